"""The prefix cache across batches (models/prefix_cache.py): answers to one prompt sent one request
at a time (GRPO's traffic) take the prompt's keys and values from the cache, and every score still
equals the single-sequence reference, for the packed formats, a process reward model reading every
step, and through a real server; the cache is off where it must be and says why."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest
import tiny_custom
import tiny_models
from batch_checks import TOL, assert_batch_independent
from serving import serving

from rewardkit import RewardModel
from rewardkit.errors import ModelLoadError
from rewardkit.models import load_model


def grouped_texts(groups: int = 3, answers: int = 4, seed: int = 0) -> list[str]:
    """``answers`` endings after each of ``groups`` long prompts (real dialogue text), prompt by prompt."""
    rng = random.Random(seed)
    dialogues = tiny_models.hh_texts(60)
    out = []
    for _ in range(groups):
        prompt = dialogues[rng.randrange(len(dialogues))][:300]
        for _ in range(answers):
            ending = dialogues[rng.randrange(len(dialogues))]
            out.append(prompt + ending[: rng.randint(5, 60)])
    return out


def reference(name: str, path, ids: list[int]) -> list[float]:
    if name == "value_head":
        return [tiny_models.reference_value_head_score(path, ids, normalize=True)]
    return tiny_models.reference_classifier_logits(path, ids)


def outputs_of(model: RewardModel):
    names = model.model.info.outputs or ["reward"]

    def score(batch):
        return [[r.objectives[o] for o in names] if r.objectives else [r.score] for r in model.score_results(batch)]

    return score


@pytest.mark.parametrize("name", ["llama", "qwen2", "llama_multi_label", "value_head"])
def test_answers_sent_one_by_one_reuse_their_prompt_and_score_exactly(checkpoint, name):
    path = checkpoint(name)
    model = RewardModel.load(path)
    assert model.info.prefix_cache.startswith("on:")
    texts = grouped_texts()
    tok = model.model.tokenizer
    expected = [reference(name, path, tiny_models.reference_ids(tok, t)) for t in texts]
    score = outputs_of(model)
    one_by_one = [score([t])[0] for t in texts]
    cached = model.model.cached_tokens
    assert cached >= 16 * 3 * 3  # at least a block of each prompt, for each answer after the first
    for got, want in zip(one_by_one, expected):
        assert got == pytest.approx(want, abs=TOL)
    assert_batch_independent(model, texts, expected, score=score)  # now from a warm cache, in any batch
    assert model.model.cached_tokens > cached


def test_a_process_reward_model_keeps_every_step_tag_computed(checkpoint):
    path = checkpoint("token_classification_prm")
    model = RewardModel.load(path)
    tok = model.model.tokenizer
    prompts = [p.replace("\n", " ") for p in grouped_texts(groups=2, answers=1, seed=3)]  # "\n" ends a step here
    answers = ["".join(f"step {k} of answer {a}\n" for k in range(1 + a % 3)) for a in range(3)]
    texts = [f"{p}\n{answer}" for p in prompts for answer in answers]
    expected = [tiny_custom.reference_step_scores(path, tiny_models.reference_ids(tok, t)) for t in texts]
    got = [list(model.score_results([t])[0].steps) for t in texts]
    assert model.model.cached_tokens > 0
    for steps, want in zip(got, expected):
        assert steps == pytest.approx(want, abs=TOL)


def test_a_cache_smaller_than_the_traffic_evicts_and_stays_exact(checkpoint):
    path = checkpoint("llama")
    small = RewardModel.load(path, prefix_cache_gib=40 / 2**20)  # 40 KiB: a handful of blocks of the tiny model
    texts = grouped_texts(groups=4, answers=3, seed=7)
    tok = small.model.tokenizer
    expected = [reference("llama", path, tiny_models.reference_ids(tok, t)) for t in texts]
    for _ in range(2):
        got = [small.score([t])[0] for t in texts]
        assert got == pytest.approx([e[0] for e in expected], abs=TOL)
    assert small.model.cached_tokens > 0


def test_threads_sharing_one_model_and_its_cache_score_exactly(checkpoint):
    path = checkpoint("llama")
    model = RewardModel.load(path, prefix_cache_gib=60 / 2**20)  # small: threads also evict each other's blocks
    texts = grouped_texts(groups=4, answers=3, seed=5)
    tok = model.model.tokenizer
    expected = [reference("llama", path, tiny_models.reference_ids(tok, t))[0] for t in texts]

    def score_all(offset: int) -> list[float]:
        order = texts[offset:] + texts[:offset]
        got = [model.score([t])[0] for t in order for _ in range(2)][::2]
        return got[len(texts) - offset :] + got[: len(texts) - offset]

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(score_all, [0, 4, 8]))
    assert model.model.cached_tokens > 0
    for got in results:
        assert got == pytest.approx(expected, abs=TOL)


def test_the_cache_is_off_where_it_must_be_and_says_why(checkpoint):
    path = checkpoint("llama")
    texts = grouped_texts(groups=1, answers=3)
    expected = RewardModel.load(path, enable_prefix_caching=False)
    assert expected.info.prefix_cache == "off: --no-enable-prefix-caching"
    want = [expected.score([t])[0] for t in texts]
    assert expected.model.cached_tokens == 0
    for options, why in [
        ({"batch_invariant": True}, "--batch-invariant"),
        ({"fused_forward": False}, "only the fused forward"),
        ({"packing": False}, "not packed"),
    ]:
        model = RewardModel.load(path, **options)
        assert model.info.prefix_cache.startswith("off:") and why in model.info.prefix_cache
        assert [model.score([t])[0] for t in texts] == pytest.approx(want, abs=TOL)
        assert model.model.cached_tokens == 0
    assert RewardModel.load(checkpoint("gpt_neox")).info.prefix_cache.startswith("off:")


def test_a_cache_with_no_room_is_refused_at_load(checkpoint):
    with pytest.raises(ModelLoadError, match="--prefix-cache-gib must be above 0"):
        RewardModel.load(checkpoint("llama"), prefix_cache_gib=0)
    with pytest.raises(ModelLoadError, match="holds no block"):
        RewardModel.load(checkpoint("llama"), prefix_cache_gib=1e-9)


@pytest.mark.anyio
async def test_the_server_reports_cached_tokens_and_its_rewards_do_not_move(checkpoint):
    model = load_model(checkpoint("llama"))
    texts = grouped_texts(groups=2, answers=3, seed=11)
    async with serving(model) as c:
        info = (await c.get("/info")).json()
        rewards = [(await c.post("/get_reward", json={"query": [t]})).json()["rewards"][0] for t in texts]
        again = (await c.post("/get_reward", json={"query": texts})).json()["rewards"]
        metrics = (await c.get("/metrics")).text
    assert info["prefix_cache"].startswith("on:")
    assert again == pytest.approx(rewards, abs=TOL)
    cached = float(metrics.split('rewardkit_batch_tokens_total{kind="cached"} ')[1].split()[0])
    assert cached > 0
