"""Every format against an independent single-sequence, unpadded reference forward (fp32, 1e-4).

Batches of many compositions are formed by scoring the same inputs in shuffled orders under
different padded-token budgets; a score must not depend on its neighbours.
"""

from __future__ import annotations

import pytest
import tiny_models
from batch_checks import TOL, assert_batch_independent, varied_texts

from rewardkit import RewardModel

CLASSIFIERS = [*tiny_models.DECODERS, *tiny_models.ENCODERS, "llama_no_pad", "llama_left_pad"]


def reference(name: str, path, tokenizer, ids: list[int]) -> float:
    if name.startswith("value_head"):
        return tiny_models.reference_value_head_score(path, ids, normalize=name == "value_head")
    return tiny_models.reference_classifier_score(path, ids)


@pytest.mark.parametrize("name", [*CLASSIFIERS, "value_head", "value_head_legacy"])
def test_text_scores_match_reference_for_any_batch(checkpoint, name):
    path = checkpoint(name)
    model = RewardModel.load(path)
    texts = varied_texts()
    tok = model.model.tokenizer
    expected = [reference(name, path, tok, tiny_models.reference_ids(tok, t)) for t in texts]
    assert_batch_independent(model, texts, expected)


@pytest.mark.parametrize("name", ["llama", "qwen2", "gemma2", "gpt_neox", "llama_no_pad"])
def test_conversation_scores_match_reference(checkpoint, name):
    """The chat template writes BOS and the tokenizer adds one: the model must see it once."""
    path = checkpoint(name)
    model = RewardModel.load(path)
    conversations = [
        [{"role": "user", "content": t[:60]}, {"role": "assistant", "content": t[60:90] or "ok"}]
        for t in varied_texts(6, seed=3)
    ]
    conversations.append(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "how are you?"},
            {"role": "assistant", "content": "fine"},
        ]
    )
    tok = model.model.tokenizer
    expected = [
        tiny_models.reference_classifier_score(path, tiny_models.reference_conversation_ids(tok, c))
        for c in conversations
    ]
    got = model.score(conversations)
    assert got == pytest.approx(expected, abs=TOL)


def test_model_without_pad_token_borrows_one_and_keeps_scores(checkpoint):
    model = RewardModel.load(checkpoint("llama_no_pad"))
    assert model.info.pad_token is None
    assert model.info.pad_token_added


def test_value_head_normalization_follows_config_and_flag(checkpoint):
    path = checkpoint("value_head")
    text = varied_texts(1)[0]
    default = RewardModel.load(path)
    raw = RewardModel.load(path, normalize=False)
    assert default.info.normalized and not raw.info.normalized
    assert default.info.format == "value-head"
    mean, std = default.info.normalization["mean"], default.info.normalization["std"]
    assert default.score([text])[0] == pytest.approx((raw.score([text])[0] - mean) / std, abs=1e-5)


def test_normalize_without_stats_is_refused(checkpoint):
    from rewardkit.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="mean"):
        RewardModel.load(checkpoint("llama"), normalize=True)


def test_left_truncation_keeps_the_end_and_is_reported(checkpoint):
    path = checkpoint("llama")
    model = RewardModel.load(path, max_length=24)
    long_text = " ".join(tiny_models.hh_texts(3))
    tok = model.model.tokenizer
    ids = tiny_models.reference_ids(tok, long_text)
    kept = ids[:1] + ids[-23:]  # BOS + the last 23 tokens
    result = model.score_items(model.templater.encode_texts([long_text]))[0]
    assert result.truncated and result.num_tokens == 24
    assert result.score == pytest.approx(tiny_models.reference_classifier_score(path, kept), abs=TOL)
