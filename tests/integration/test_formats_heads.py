"""Multi-output, DeepSpeed-Chat / trlx, custom-code, token-level and process reward models against
independent references that reproduce each model's own reading rule on one sequence."""

from __future__ import annotations

import pytest
import tiny_custom
import tiny_models
from batch_checks import TOL, assert_batch_independent, varied_texts

from rewardkit import RewardModel
from rewardkit.errors import InvalidInputError, ModelLoadError


def conversations(n: int = 6, seed: int = 3) -> list[list[dict[str, str]]]:
    return [
        [{"role": "user", "content": t[:50] or "hi"}, {"role": "assistant", "content": t[50:90] or "ok"}]
        for t in varied_texts(n, seed=seed)
    ]


# ---- several labels ----------------------------------------------------------------------------


def test_multi_label_returns_every_objective_and_scores_the_chosen_one(checkpoint):
    path = checkpoint("llama_multi_label")
    texts = varied_texts(8)
    tok = RewardModel.load(path).model.tokenizer
    expected = [tiny_models.reference_classifier_logits(path, tiny_models.reference_ids(tok, t)) for t in texts]
    names = ["helpfulness", "harmlessness", "honesty"]

    default = RewardModel.load(path)
    assert default.info.outputs == names and default.info.objective == "helpfulness"
    assert_batch_independent(
        default, texts, expected, score=lambda xs: [list(r.objectives.values()) for r in default.score_results(xs)]
    )
    assert default.score(texts) == pytest.approx([e[0] for e in expected], abs=TOL)

    chosen = RewardModel.load(path, objective="harmlessness")
    assert chosen.info.objective == "harmlessness"
    assert chosen.score(texts) == pytest.approx([e[1] for e in expected], abs=TOL)
    by_index = RewardModel.load(path, objective="2")
    assert by_index.score(texts) == pytest.approx([e[2] for e in expected], abs=TOL)
    per_request = default.score_results(texts, objective="honesty")
    assert [r.score for r in per_request] == pytest.approx([e[2] for e in expected], abs=TOL)


def test_unknown_objective_names_the_choices(checkpoint):
    path = checkpoint("llama_multi_label")
    with pytest.raises(ModelLoadError, match="helpfulness"):
        RewardModel.load(path, objective="kindness")
    with pytest.raises(InvalidInputError, match="harmlessness"):
        RewardModel.load(path).score_results(["hi"], objective="kindness")


# ---- DeepSpeed-Chat and trlx -------------------------------------------------------------------


def test_deepspeed_chat_opt_reads_before_the_first_pad_after_the_leading_one(checkpoint):
    path = checkpoint("deepspeed_chat_opt")
    model = RewardModel.load(path)
    assert model.info.format == "v-head"
    assert "rwtranrsformer" in model.info.detected_by
    tok = model.model.tokenizer
    texts = [*varied_texts(10), "Go away.</s>and this tail is not read", "</s></s>two pads first"]
    expected = [tiny_custom.reference_dschat_score(path, tiny_models.reference_ids(tok, t)) for t in texts]
    assert_batch_independent(model, texts, expected)
    # The OPT quirk: the leading </s> is skipped; a </s> inside the text ends it.
    cut = model.score(["Go away.</s>and this tail is not read", "Go away."])
    assert cut[0] == pytest.approx(cut[1], abs=TOL)


def test_deepspeed_chat_skip_is_configurable(checkpoint):
    path = checkpoint("deepspeed_chat_opt")
    model = RewardModel.load(path, num_padding_at_beginning=2)
    tok = model.model.tokenizer
    text = "Go away.</s>and now the tail is read too"
    ids = tiny_models.reference_ids(tok, text)
    expected = tiny_custom.reference_dschat_score(path, ids, num_padding_at_beginning=2)
    assert model.score([text])[0] == pytest.approx(expected, abs=TOL)
    assert expected != pytest.approx(tiny_custom.reference_dschat_score(path, ids), abs=1e-3)


def test_trlx_gptj_reads_before_the_first_eos(checkpoint):
    path = checkpoint("trlx_gptj")
    model = RewardModel.load(path)
    assert model.info.format == "v-head" and model.info.pad_token_added
    tok = model.model.tokenizer
    texts = [*varied_texts(10), "short answer</s>with a tail after eos"]
    expected = [tiny_custom.reference_trlx_score(path, tiny_models.reference_ids(tok, t)) for t in texts]
    assert_batch_independent(model, texts, expected)


# ---- custom classes (auto_map) -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["custom_value_head", "armo_gating", "qwen2_token_rm", "qwen2_prm"])
def test_custom_code_is_refused_without_trust_remote_code(checkpoint, name):
    with pytest.raises(ModelLoadError, match="--trust-remote-code"):
        RewardModel.load(checkpoint(name))


def test_custom_value_head_class_matches_its_own_forward(checkpoint):
    path = checkpoint("custom_value_head")
    model = RewardModel.load(path, trust_remote_code=True)
    assert model.info.format == "custom-code" and "LlamaRewardModel" in model.info.head
    tok = model.model.tokenizer
    texts = varied_texts(10)
    expected = [tiny_custom.reference_custom_score(path, tiny_models.reference_ids(tok, t)) for t in texts]
    assert_batch_independent(model, texts, expected)


def test_armo_gating_returns_the_gated_score_and_named_objectives(checkpoint):
    path = checkpoint("armo_gating")
    model = RewardModel.load(path, trust_remote_code=True)
    names = tiny_custom.ARMO_OBJECTIVES
    assert model.info.outputs == ["score", *names] and model.info.objective == "score"
    tok = model.model.tokenizer
    convs = conversations(8)
    refs = [tiny_custom.reference_armo(path, tiny_models.reference_conversation_ids(tok, c)) for c in convs]
    expected = [[score, *rewards] for score, rewards, _ in refs]

    def rows(batch):
        return [[r.score, *(r.objectives[n] for n in names)] for r in model.score_results(batch)]

    assert_batch_independent(model, convs, expected, score=rows)
    # One objective as the reward, by flag and per request.
    helpful = RewardModel.load(path, trust_remote_code=True, objective="helpfulness")
    assert helpful.score(convs) == pytest.approx([r[1][0] for r in refs], abs=TOL)
    per_request = model.score_results(convs, objective="verbosity")
    assert [r.score for r in per_request] == pytest.approx([r[1][3] for r in refs], abs=TOL)


def test_token_level_reward_head_is_read_at_the_last_token(checkpoint):
    path = checkpoint("qwen2_token_rm")
    model = RewardModel.load(path, trust_remote_code=True)
    assert model.info.steps is None and "last" in model.info.pooling
    tok = model.model.tokenizer
    texts = varied_texts(10)
    expected = [tiny_custom.reference_token_rm_score(path, tiny_models.reference_ids(tok, t)) for t in texts]
    assert_batch_independent(model, texts, expected)


# ---- process reward models ---------------------------------------------------------------------


def step_texts(separator: str, n: int = 8) -> list[str]:
    """Solutions of 1-4 steps, each step ended by the separator, as PRMs are fed."""
    texts = varied_texts(n * 2, seed=5)
    return [separator.join(t[:30] for t in texts[i : i + 1 + i % 4]) + separator for i in range(n)]


@pytest.mark.parametrize(
    ("name", "separator", "remote"),
    [
        ("qwen2_prm", "<extra_0>", True),
        ("token_classification_prm", "\n", False),
    ],
)
def test_process_reward_model_returns_a_score_per_step(checkpoint, name, separator, remote):
    path = checkpoint(name)
    model = RewardModel.load(path, trust_remote_code=remote)
    assert model.info.steps["separator"] == separator
    tok = model.model.tokenizer
    texts = step_texts(separator)
    expected = [tiny_custom.reference_step_scores(path, tiny_models.reference_ids(tok, t)) for t in texts]
    assert all(expected) and {len(e) for e in expected} != {1}

    def steps(batch):
        return [list(r.steps) for r in model.score_results(batch)]

    assert_batch_independent(model, texts, expected, score=steps)
    assert model.score(texts) == pytest.approx([min(e) for e in expected], abs=TOL)
    last = RewardModel.load(path, trust_remote_code=remote, step_aggregation="last")
    assert last.info.steps["aggregation"] == "last"
    assert last.score(texts) == pytest.approx([e[-1] for e in expected], abs=TOL)


def test_process_reward_model_without_a_separator_scores_the_last_token(checkpoint):
    path = checkpoint("qwen2_prm")
    model = RewardModel.load(path, trust_remote_code=True)
    tok = model.model.tokenizer
    ids = tiny_models.reference_ids(tok, "no steps here")
    result = model.score_results(["no steps here"])[0]
    assert result.steps == ()
    # The last token read as if it ended the only step.
    assert result.score == pytest.approx(
        tiny_custom.reference_step_scores(path, ids, separator_id=ids[-1])[-1], abs=TOL
    )


def test_multi_token_step_separator_is_refused(checkpoint):
    with pytest.raises(ModelLoadError, match="single-token"):
        RewardModel.load(checkpoint("token_classification_prm"), step_separator="\n\n")


@pytest.mark.parametrize("max_length", [None, 40])
def test_step_separators_in_the_prompt_and_template_are_not_steps(checkpoint, max_length):
    """Newlines in the system/user turns and the template's own closing newline are not step ends:
    only separators inside the scored response count (found here via character offsets)."""
    path = checkpoint("token_classification_prm")
    model = RewardModel.load(path, max_length=max_length)
    tok = model.model.tokenizer
    response = "First, add two.\nThen double it.\nSo 8.\n"
    conversation = [
        {"role": "system", "content": "Think\nstep by step."},
        {"role": "user", "content": "What is\n(2+2)*2?"},
        {"role": "assistant", "content": response},
    ]
    text = tok.apply_chat_template(conversation, tokenize=False)
    start = text.rindex(response)
    encoded = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
    if max_length:
        ids, offsets = ids[:1] + ids[-(max_length - 1) :], offsets[:1] + offsets[-(max_length - 1) :]
    sep = tiny_custom.separator_id(path)
    probs = tiny_custom.reference_step_scores(path, ids, separator_id=sep)
    positions = [i for i, t in enumerate(ids) if t == sep]
    in_response = [p for p, (i, _) in zip(probs, (offsets[i] for i in positions)) if start <= i < start + len(response)]
    assert len(in_response) == 3 and len(positions) > 3
    result = model.score_results([conversation])[0]
    assert list(result.steps) == pytest.approx(in_response, abs=TOL)


@pytest.mark.parametrize(
    ("name", "options", "match"),
    [
        ("deepspeed_chat_opt", {"num_padding_at_beginning": -1}, "0 or more"),
        ("token_classification_prm", {"step_aggregation": "median"}, "step-aggregation"),
    ],
)
def test_bad_format_settings_are_refused_at_load(checkpoint, name, options, match):
    with pytest.raises(ModelLoadError, match=match):
        RewardModel.load(checkpoint(name), **options)


def test_objective_may_be_an_integer_index(checkpoint):
    path = checkpoint("llama_multi_label")
    texts = varied_texts(3)
    by_name = RewardModel.load(path, objective="honesty").score(texts)
    assert RewardModel.load(path, objective=2).score(texts) == pytest.approx(by_name)
    assert [r.score for r in RewardModel.load(path).score_results(texts, objective=2)] == pytest.approx(by_name)


@pytest.mark.parametrize("name", ["llama", "value_head", "deepspeed_chat_llama"])
def test_a_bf16_model_reads_its_reward_off_the_head_in_float32(checkpoint, name):
    """The backbone runs in bf16, its head in float32: rewards are not rounded to bf16's spacing (no
    ties made by rounding), and stay as close to the float32 model as bf16 hidden states allow."""
    import torch

    texts = varied_texts(12)
    exact = RewardModel.load(checkpoint(name), dtype="float32").score(texts)
    half = RewardModel.load(checkpoint(name), dtype="bfloat16").score(texts)
    on_the_bf16_grid = [s for s in half if torch.tensor(s).bfloat16().float().item() == s]
    assert len(on_the_bf16_grid) <= 2, half
    assert half == pytest.approx(exact, abs=0.05)
