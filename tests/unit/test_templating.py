from __future__ import annotations

import pytest
import tiny_models

from rewardkit.errors import InputTooLongError, InvalidInputError
from rewardkit.templating import Templater, validate_conversation
from rewardkit.types import with_answer


@pytest.fixture(scope="module")
def decoder_tok():
    return tiny_models.decoder_tokenizer()


@pytest.fixture(scope="module")
def encoder_tok():
    return tiny_models.encoder_tokenizer()


OK = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


@pytest.mark.parametrize(
    ("conversation", "message"),
    [
        ([], "non-empty list"),
        ([{"role": "bot", "content": "x"}, *OK], "unknown role 'bot'"),
        ([{"role": "user", "content": 3}, OK[1]], "expected a string"),
        ([{"role": "user", "content": "hi"}], "at least one 'user' and one 'assistant'"),
        ([*OK, {"role": "user", "content": "and?"}], "last message must be the 'assistant'"),
        (["hi", "there"], "expected an object"),
    ],
)
def test_bad_conversations_say_how_to_fix(conversation, message):
    with pytest.raises(InvalidInputError, match=message):
        validate_conversation(conversation)


def test_double_bos_from_template_is_removed(decoder_tok):
    t = Templater(decoder_tok, max_length=100)
    rendered = t.render(OK)
    assert rendered.startswith("<s>")
    ids = t.encode_conversations([OK])[0].input_ids
    assert ids[0] == decoder_tok.bos_token_id and ids[1] != decoder_tok.bos_token_id
    assert list(ids) == tiny_models.reference_conversation_ids(decoder_tok, OK)


def test_left_truncation_keeps_bos_and_the_end(decoder_tok):
    text = " ".join(tiny_models.hh_texts(2))
    full = decoder_tok(text)["input_ids"]
    item = Templater(decoder_tok, max_length=10, truncation="left").encode_texts([text])[0]
    assert item.truncated and item.original_length > 10
    assert list(item.input_ids) == full[:1] + full[-9:]


def test_right_truncation_keeps_the_start_and_a_trailing_special(encoder_tok):
    text = " ".join(tiny_models.hh_texts(2))
    full = encoder_tok(text)["input_ids"]
    item = Templater(encoder_tok, max_length=10, truncation="right").encode_texts([text])[0]
    assert list(item.input_ids) == full[:9] + full[-1:]  # ... + [SEP]


def test_truncation_error_names_the_limit_and_the_fix(decoder_tok):
    with pytest.raises(InputTooLongError, match=r"over the limit of 5.*--truncation left"):
        Templater(decoder_tok, max_length=5, truncation="error").encode_texts(["a b c d e f g h i j k l"])


def test_short_text_is_untouched(decoder_tok):
    item = Templater(decoder_tok, max_length=100).encode_texts(["hello there"])[0]
    assert not item.truncated and list(item.input_ids) == decoder_tok("hello there")["input_ids"]


def test_tokenizer_without_template_uses_hh_fallback(encoder_tok):
    t = Templater(encoder_tok, max_length=100)
    assert not t.has_chat_template
    assert t.render(OK) == "\n\nHuman: hi\n\nAssistant: hello"


def test_non_string_text_is_rejected(decoder_tok):
    with pytest.raises(InvalidInputError, match="item 1: expected a string"):
        Templater(decoder_tok, max_length=100).encode_texts(["ok", 3])


def test_legacy_append_eos_strips_padding_and_adds_one_eos(decoder_tok):
    t = Templater(decoder_tok, max_length=100, append_eos=True)
    ids = t.encode_texts(["hello<pad><pad></s>"])[0].input_ids
    assert list(ids) == decoder_tok("hello</s>")["input_ids"]


def test_with_answer_puts_the_answer_after_the_context_as_the_assistant_turn():
    context = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert with_answer(context, "hello") == [*context, {"role": "assistant", "content": "hello"}]
    assert len(context) == 2  # copied, not changed
    assert with_answer("hi", "hello") == OK  # a string is one user turn
