"""Padding-free packed batches: which models pack (and why the others do not), and that packed scores
equal the unpadded single-sequence reference and the padded path, for any batch composition."""

from __future__ import annotations

import pytest
import tiny_custom
import tiny_models
from batch_checks import TOL, assert_batch_independent, varied_texts
from serving import serving

from rewardkit import RewardModel
from rewardkit.models import load_model

PACKED = [
    "llama",
    "qwen2",
    "mistral",
    "llama_no_pad",
    "llama_left_pad",
    "llama_multi_label",
    "value_head",
    "deepspeed_chat_llama",
]
PADDED = {"gemma2": "model type 'gemma2'", "gpt_neox": "model type 'gpt_neox'", "bert": "own head"}


def reference(name: str, path, ids: list[int]) -> list[float]:
    if name == "value_head":
        return [tiny_models.reference_value_head_score(path, ids, normalize=True)]
    if name == "deepspeed_chat_llama":
        return [tiny_custom.reference_dschat_score(path, ids, num_padding_at_beginning=0)]
    return tiny_models.reference_classifier_logits(path, ids)


@pytest.mark.parametrize("name", PACKED)
def test_packed_scores_equal_the_single_sequence_reference_in_any_batch(checkpoint, name):
    path = checkpoint(name)
    model = RewardModel.load(path)
    assert model.model.packed and model.info.packing.startswith("on")
    texts = varied_texts(18, seed=4)
    tok = model.model.tokenizer
    expected = [reference(name, path, tiny_models.reference_ids(tok, t)) for t in texts]
    outputs = model.model.info.outputs or ["reward"]

    def all_outputs(batch):
        results = model.score_results(batch)
        return [[r.objectives[o] for o in outputs] if r.objectives else [r.score] for r in results]

    assert_batch_independent(model, texts, expected, score=all_outputs)


@pytest.mark.parametrize("name", ["llama", "qwen2", "value_head"])
def test_packed_and_padded_paths_agree(checkpoint, name):
    path = checkpoint(name)
    packed = RewardModel.load(path)
    padded = RewardModel.load(path, packing=False)
    assert not padded.model.packed and padded.info.packing == "off: --no-packing"
    texts = varied_texts(20, seed=9)
    assert packed.score(texts) == pytest.approx(padded.score(texts), abs=TOL)


@pytest.mark.parametrize(("name", "why"), sorted(PADDED.items()))
def test_models_that_cannot_pack_keep_the_padded_path_and_say_why(checkpoint, name, why):
    model = load_model(checkpoint(name))
    assert not model.packed
    assert model.info.packing.startswith("off:") and why in model.info.packing


async def test_the_server_packs_and_reports_it(checkpoint):
    model = load_model(checkpoint("llama"))
    texts = varied_texts(12, seed=2)
    alone = [RewardModel(model).score([t])[0] for t in texts]
    async with serving(model) as c:
        info = (await c.get("/info")).json()
        rewards = (await c.post("/get_reward", json={"query": texts})).json()["rewards"]
        metrics = (await c.get("/metrics")).text
    assert info["packing"].startswith("on")
    assert rewards == pytest.approx(alone, abs=TOL)
    real = float(metrics.split('rewardkit_batch_tokens_total{kind="real"} ')[1].split()[0])
    padded = float(metrics.split('rewardkit_batch_tokens_total{kind="padded"} ')[1].split()[0])
    assert real == padded  # nothing but real tokens went through the model


pytestmark = pytest.mark.anyio


def shared_prompt_texts(seed: int = 0) -> list[str]:
    """Several prompts, each with several answers (a Best-of-N / GRPO mix), plus unrelated texts,
    duplicates, and a text that is another's prefix."""
    import random

    rng = random.Random(seed)
    dialogues = tiny_models.hh_texts(40)
    prompts = [d[: rng.randint(80, 300)] for d in dialogues[:4]]
    texts = [p + " " + dialogues[rng.randrange(40)][: rng.randint(1, 120)] for p in prompts for _ in range(5)]
    texts += [*varied_texts(6, seed=seed), texts[0], prompts[1]]
    rng.shuffle(texts)
    return texts


@pytest.mark.parametrize("name", ["llama", "qwen2", "value_head"])
def test_shared_prompts_computed_once_give_the_single_sequence_scores(checkpoint, name):
    path = checkpoint(name)
    model = RewardModel.load(path)
    texts = shared_prompt_texts(seed=len(name))
    tok = model.model.tokenizer
    expected = [reference(name, path, tiny_models.reference_ids(tok, t))[0] for t in texts]
    assert_batch_independent(model, texts, expected)


async def test_best_of_n_over_http_shares_the_prompt_and_matches_scoring_alone(checkpoint):
    model = load_model(checkpoint("llama"))
    prompt = tiny_models.hh_texts(3)[2][:400]
    candidates = [t[:90] for t in tiny_models.hh_texts(12)[3:11]]
    conversations = [[{"role": "user", "content": prompt}, {"role": "assistant", "content": c}] for c in candidates]
    alone = [RewardModel(model).score([c])[0] for c in conversations]  # one at a time: nothing shared
    async with serving(model) as c:
        pick = (await c.post("/best_of_n", json={"prompt": prompt, "candidates": candidates})).json()
    assert pick["scores"] == pytest.approx(alone, abs=TOL)


def test_a_deepspeed_chat_reward_is_read_before_the_first_eos_inside_a_shared_prompt_too(checkpoint):
    """DeepSpeed-Chat reads the token before the first pad id (= eos); packed, that position may fall
    in a prompt shared with other sequences, or in a sequence's own segment."""
    path = checkpoint("deepspeed_chat_llama")
    model = RewardModel.load(path)
    assert model.model.packed
    eos = model.model.tokenizer.eos_token
    dialogues = tiny_models.hh_texts(20)
    prompt = dialogues[0][:200]
    texts = [
        f"{prompt}{eos} and what follows the first eos is never read",
        f"{prompt}{eos} a different tail, still unread",
        f"{prompt} an answer {eos} then more",
        f"{prompt} another answer without one",
        f"{dialogues[1][:50]}{eos}{dialogues[2][:80]}",
    ]
    tok = model.model.tokenizer
    expected = [reference("deepspeed_chat_llama", path, tiny_models.reference_ids(tok, t))[0] for t in texts]
    assert expected[0] == pytest.approx(expected[1], abs=TOL)  # both read inside the prompt, at its end
    assert_batch_independent(model, texts, expected)


def shared_step_texts(separator: str, seed: int = 0) -> list[str]:
    """Process-reward inputs whose opening steps are shared (the prompt and first steps of several
    solutions) and whose later steps differ, plus unrelated solutions."""
    import random

    rng = random.Random(seed)
    pieces = [t[:40] or "x" for t in tiny_models.hh_texts(40)]
    opening = separator.join(pieces[:3]) + separator
    shared = [
        opening + separator.join(rng.sample(pieces, rng.randint(0, 3))) + pieces[rng.randrange(40)][:9] + separator
        for _ in range(6)
    ]
    alone = [separator.join(rng.sample(pieces, rng.randint(1, 4))) + separator for _ in range(4)]
    texts = [*shared, *alone, opening]
    rng.shuffle(texts)
    return texts


def test_process_reward_models_pack_and_read_every_step_even_inside_a_shared_prefix(checkpoint):
    path = checkpoint("token_classification_prm")
    model = RewardModel.load(path)
    assert model.model.packed and model.info.packing.startswith("on")
    tok = model.model.tokenizer
    texts = shared_step_texts("\n")
    expected = [tiny_custom.reference_step_scores(path, tiny_models.reference_ids(tok, t)) for t in texts]
    assert all(expected)

    def steps(batch):
        return [list(r.steps) for r in model.score_results(batch)]

    assert_batch_independent(model, texts, expected, score=steps)
    padded = RewardModel.load(path, packing=False)
    assert [list(r.steps) for r in padded.score_results(texts)] == [pytest.approx(e, abs=TOL) for e in expected]


def test_process_reward_steps_in_a_conversation_prompt_are_not_steps_when_packed(checkpoint):
    path = checkpoint("token_classification_prm")
    packed, padded = RewardModel.load(path), RewardModel.load(path, packing=False)
    prompt = "Think\nstep by step.\nWhat is (2+2)*2?"
    conversations = [
        [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
        for answer in ["Add two.\nDouble it.\nSo 8.\n", "Add.\nSo 8.\n", "It is 8.\n"]
    ]
    got = [list(r.steps) for r in packed.score_results(conversations)]
    want = [list(r.steps) for r in padded.score_results(conversations)]
    assert [len(g) for g in got] == [3, 2, 1]
    assert got == [pytest.approx(w, abs=TOL) for w in want]
