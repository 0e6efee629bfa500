"""Long texts are cut before tokenizing, and the kept tokens are exactly those of tokenizing the whole
text and truncating it: checked against that plain computation on texts near every window boundary,
in several scripts, for both truncation sides, on a byte-level BPE and a WordPiece tokenizer."""

from __future__ import annotations

import pytest
import tiny_models
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewardkit.errors import InputTooLongError
from rewardkit.templating import Templater
from rewardkit.templating.cutting import EndReader

ENGLISH = " ".join(tiny_models.hh_texts(40))
SCRIPTS = {
    "english": ENGLISH,
    "chinese": "奖励模型为每个回答打分，分数越高越好。" * 300,
    "cyrillic and emoji": "Модель вознаграждения 🙂 оценивает ответы 👍🏽, " * 200,
    "arabic with marks": "نموذج المكافأة يُقيِّم الإجابات. " * 250,
    "mixed": (ENGLISH[:3000] + " 日本語のテキスト 🎉 ") * 3,
    "newlines and spaces": ("step one\n\n    indented   code  \t tab\n" * 200),
}


@pytest.fixture(scope="module")
def tokenizers():
    return {"bpe": tiny_models.decoder_tokenizer(), "wordpiece": tiny_models.encoder_tokenizer()}


def reference(tok, text: str, max_length: int, side: str) -> list[int]:
    """Tokenize all of it, drop a doubled BOS, then truncate: what the cut must reproduce."""
    ids = tok(text, add_special_tokens=True)["input_ids"]
    bos = tok.bos_token_id
    if bos is not None and len(ids) >= 2 and ids[0] == ids[1] == bos:
        ids = ids[1:]
    if len(ids) <= max_length:
        return ids
    special = set(tok.all_special_ids)
    if side == "left":
        return ids[:1] + ids[-(max_length - 1) :] if ids[0] in special else ids[-max_length:]
    return ids[: max_length - 1] + ids[-1:] if ids[-1] in special else ids[:max_length]


def encoded(tok, text: str, max_length: int, side: str) -> list[int]:
    return list(Templater(tok, max_length=max_length, truncation=side).encode_texts([text])[0].input_ids)


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("script", sorted(SCRIPTS))
@pytest.mark.parametrize("name", ["bpe", "wordpiece"])
def test_cut_texts_keep_exactly_the_tokens_of_the_whole(tokenizers, name, script, side):
    tok, text = tokenizers[name], SCRIPTS[script]
    for max_length in (2, 7, 40):
        first_window = (max_length + 1 + 16) * 4  # the reader's first window (longest tokens > 4)
        for size in (2 * first_window - 1, 2 * first_window + 1, 2 * first_window + 5, 5 * first_window, len(text)):
            part = text[:size] if size % 2 else text[-size:]  # both ends of the text as the cut's edge
            assert encoded(tok, part, max_length, side) == reference(tok, part, max_length, side), (size, max_length)


@pytest.mark.parametrize("side", ["left", "right"])
def test_each_character_position_near_the_window_edge(tokenizers, side):
    """Sliding the text one character at a time moves every window edge through every kind of spot."""
    tok = tokenizers["bpe"]
    for shift in range(0, 60):
        part = SCRIPTS["mixed"][shift : shift + 400]
        assert encoded(tok, part, 5, side) == reference(tok, part, 5, side), shift


def test_a_run_whose_tokens_depend_on_where_it_starts_is_exact_or_refused(tokenizers):
    """A run of one letter tokenizes by its parity from the start: the ends are read exactly or the
    text is refused with a 413-class error, never guessed."""
    tok = tokenizers["bpe"]
    for text in ("a" * 20_000, "ab" * 9_000 + "x", " " * 20_000 + "end", "x" + "0" * 30_000):
        for side in ("left", "right"):
            try:
                got = encoded(tok, text, 16, side)
            except InputTooLongError as exc:
                assert "cannot be cut exactly" in str(exc)
                continue
            assert got == reference(tok, text, 16, side)


def test_a_cut_text_with_truncation_error_is_refused_by_its_size(tokenizers):
    with pytest.raises(InputTooLongError, match=r"item 0: about \d+ tokens is over the limit of 8"):
        Templater(tokenizers["bpe"], max_length=8, truncation="error").encode_texts([ENGLISH])


def test_a_cut_conversation_keeps_the_response_span_of_the_whole(tokenizers):
    """Process reward models read step separators inside the response: its token span must be the same
    whether the rendered conversation was cut or not (the long part here is the prompt)."""
    tok = tokenizers["bpe"]
    long_prompt = [{"role": "user", "content": ENGLISH}, {"role": "assistant", "content": "step one\nstep two\n"}]
    cut = Templater(tok, max_length=48, track_prompt=True).encode_conversations([long_prompt])[0]
    whole = Templater(tok, max_length=10**9, track_prompt=True).encode_conversations([long_prompt])[0]
    ids, start, end = list(whole.input_ids), whole.prompt_length, whole.response_end
    shift = len(ids) - 48
    assert list(cut.input_ids) == ids[:1] + ids[-47:]
    assert (cut.prompt_length, cut.response_end) == (max(start - shift, 1), max(end - shift, 1))


def test_a_long_response_clamps_its_start_to_the_kept_part(tokenizers):
    tok = tokenizers["bpe"]
    long_answer = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ENGLISH}]
    cut = Templater(tok, max_length=48, track_prompt=True).encode_conversations([long_answer])[0]
    whole = Templater(tok, max_length=10**9, track_prompt=True).encode_conversations([long_answer])[0]
    shift = whole.length - 48
    assert cut.prompt_length == 1 and cut.response_end == whole.response_end - shift


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(alphabet=st.sampled_from("ab \n.,é日🙂\u0301-0123"), min_size=150, max_size=900),
    max_length=st.integers(2, 12),
    side=st.sampled_from(["left", "right"]),
)
def test_any_text_is_cut_exactly_or_refused(tokenizers, text, max_length, side):
    for tok in tokenizers.values():
        try:
            got = encoded(tok, text, max_length, side)
        except InputTooLongError:
            continue
        assert got == reference(tok, text, max_length, side)


def test_ends_that_depend_on_the_whole_text_are_refused_not_guessed():
    """A tokenizer whose every token depends on the text's length parity: no window can be trusted."""
    reader = EndReader(keep=10, longest=3)
    seen: list[int] = []

    def parity(text: str) -> list[int]:
        seen.append(len(text))
        return [len(text) % 2] * len(text)

    with pytest.raises(InputTooLongError, match="cannot be cut exactly; send at most 78 characters"):
        reader.ends(parity, "x" * 1_000_000, "item 3")
    assert max(seen) <= reader.cap + 1  # never more than the cap was tokenized


def test_a_huge_text_is_read_through_small_windows_only():
    reader = EndReader(keep=100, longest=16)
    seen: list[int] = []

    def words(text: str) -> list[int]:
        seen.append(len(text))
        return [hash(w) % 1000 for w in text.split()]

    ends = reader.ends(words, "one two three " * 3_000_000, "item 0")
    assert ends is not None and len(ends.head) == len(ends.tail) == 100
    assert max(seen) <= 2 * reader.first_width + 1 and ends.estimated_length > 8_000_000


def test_a_text_the_tokenizer_mostly_drops_is_scored_not_refused(tokenizers):
    """WordPiece drops whitespace: 50,000 newlines are a handful of tokens, far under any cap."""
    tok = tokenizers["wordpiece"]
    for text in ("ok" + "\n" * 50_000, "\n" * 30_000 + "the end", " \t " * 20_000 + "a b c d e f g h i j k"):
        for side in ("left", "right"):
            assert encoded(tok, text, 8, side) == reference(tok, text, 8, side)


def test_a_prompt_that_ends_inside_the_head_window_but_past_the_kept_head(tokenizers):
    """The response starts ~80 tokens in: inside the first window read, yet past the tokens kept from
    it; left truncation of a huge response must still clamp its start to the kept part."""
    tok = tokenizers["bpe"]
    conversation = [
        {"role": "user", "content": ENGLISH[:190]},
        {"role": "assistant", "content": ENGLISH * 3},
    ]
    cut = Templater(tok, max_length=48, track_prompt=True).encode_conversations([conversation])[0]
    whole = Templater(tok, max_length=10**9, track_prompt=True).encode_conversations([conversation])[0]
    shift = whole.length - 48
    assert whole.prompt_length > 48 + 1  # the case: past the kept head (max_length + 1 tokens)
    assert (cut.prompt_length, cut.response_end) == (max(whole.prompt_length - shift, 1), whole.response_end - shift)
