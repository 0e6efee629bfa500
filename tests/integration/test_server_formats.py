"""The HTTP API for multi-objective, process-reward and pairwise models (in-process, real models):
extras in /get_reward and /score, /compare and /rank, and what /info reports."""

from __future__ import annotations

import pytest
import tiny_custom
import tiny_models
import tiny_pairwise
from serving import serving

from rewardkit import RewardModel
from rewardkit.config import ModelConfig
from rewardkit.models import load_model

pytestmark = pytest.mark.anyio

CONV = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}]


def loaded(path, **options):
    config = ModelConfig(**options)
    return load_model(path, config), config


async def test_multi_objective_extras_in_get_reward_score_and_info(checkpoint):
    path = checkpoint("armo_gating")
    model, config = loaded(path, trust_remote_code=True)
    tok = model.tokenizer
    score, rewards, _ = tiny_custom.reference_armo(path, tiny_models.reference_conversation_ids(tok, CONV))
    names = tiny_custom.ARMO_OBJECTIVES
    async with serving(model, config) as c:
        text = tok.apply_chat_template(CONV, tokenize=False)
        got = (await c.post("/get_reward", json={"query": [text]})).json()
        one = (await c.post("/score", json={"messages": CONV})).json()
        chosen = (await c.post("/score", json={"conversations": [CONV], "objective": "coherence"})).json()
        bad = await c.post("/score", json={"messages": CONV, "objective": "kindness"})
        info = (await c.get("/info")).json()
    assert got["rewards"][0] == pytest.approx(score, abs=1e-4)
    assert [got["extra_logs"][n][0] for n in names] == pytest.approx(rewards, abs=1e-4)
    assert one["score"] == pytest.approx(score, abs=1e-4)
    assert [one["objectives"][n] for n in names] == pytest.approx(rewards, abs=1e-4)
    assert chosen["scores"][0] == pytest.approx(rewards[2], abs=1e-4)
    assert bad.status_code == 422 and "coherence" in bad.json()["detail"]
    assert info["outputs"] == ["score", *names] and info["objective"] == "score"
    assert info["format"] == "custom-code" and "auto_map" in info["detected_by"]


async def test_process_reward_step_scores_over_http(checkpoint):
    path = checkpoint("qwen2_prm")
    model, config = loaded(path, trust_remote_code=True)
    tok = model.tokenizer
    text = "step one<extra_0>step two<extra_0>"
    steps = tiny_custom.reference_step_scores(path, tiny_models.reference_ids(tok, text))
    async with serving(model, config) as c:
        got = (await c.post("/get_reward", json={"query": [text, "no step"]})).json()
        info = (await c.get("/info")).json()
    assert got["step_scores"][0] == pytest.approx(steps, abs=1e-4) and got["step_scores"][1] == []
    assert got["rewards"][0] == pytest.approx(min(steps), abs=1e-4)
    assert got["extra_logs"]["num_steps"] == [2.0, 0.0]
    assert info["steps"]["separator"] == "<extra_0>" and info["steps"]["aggregation"] == "min"


async def test_compare_and_rank_with_a_pairwise_model(checkpoint):
    path = checkpoint("pairwise_lm")
    model, config = loaded(path, pairwise=True)
    context = "how do I fix my bike"
    expected = tiny_pairwise.reference_preference(
        path, tiny_pairwise.rlhflow_context([context]), "thanks helpful", "rude"
    )
    async with serving(model, config) as c:
        compared = (await c.post("/compare", json={"prompt": context, "responses": ["thanks helpful", "rude"]})).json()
        ranked = await c.post(
            "/rank", json={"prompt": context, "candidates": ["wrong", "mean", "kind correct"], "method": "round_robin"}
        )
        knockout = (await c.post("/rank", json={"prompt": context, "candidates": ["wrong", "great", "mean"]})).json()
        pointwise = await c.post("/get_reward", json={"query": ["anything"]})
        three = await c.post("/compare", json={"prompt": context, "responses": ["a", "b", "c"]})
        both = await c.post("/compare", json={"prompt": context, "messages": CONV, "responses": ["a", "b"]})
        method = await c.post("/rank", json={"prompt": context, "candidates": ["a"], "method": "swiss"})
        info = (await c.get("/info")).json()
    assert compared["probability"] == pytest.approx(expected, abs=1e-4) and compared["winner"] == 0
    assert len(compared["orders"]) == 2
    assert ranked.status_code == 200 and ranked.json()["best"] == 2 and ranked.json()["comparisons"] == 3
    assert knockout["best"] == 1 and knockout["method"] == "knockout" and knockout["comparisons"] == 2
    assert pointwise.status_code == 422 and "/compare" in pointwise.json()["detail"]
    assert three.status_code == 422 and both.status_code == 422 and method.status_code == 422
    assert info["format"] == "pairwise-preference" and info["pairwise"]["tokens"] == ["A", "B"]


async def test_a_round_robin_larger_than_the_queue_is_refused_before_any_work(checkpoint):
    from rewardkit.config import EngineConfig

    model, config = loaded(checkpoint("pairwise_lm"), pairwise=True)
    async with serving(model, config, EngineConfig(max_queue=64)) as c:
        responses = [f"answer {i}" for i in range(20)]
        big = await c.post("/rank", json={"prompt": "q", "candidates": responses, "method": "round_robin"})
        fine = await c.post("/rank", json={"prompt": "q", "candidates": responses, "method": "knockout"})
    assert big.status_code == 413 and "knockout" in big.json()["detail"]
    assert fine.status_code == 200 and fine.json()["comparisons"] == 19


async def test_compare_and_rank_with_a_pointwise_model(checkpoint):
    path = checkpoint("llama")
    model, config = loaded(path)
    reference = RewardModel.load(path)
    candidates = ["Sure.", "No way.", "Here is a longer answer with detail."]
    scores = reference.score(
        [[{"role": "user", "content": "q"}, {"role": "assistant", "content": x}] for x in candidates]
    )
    async with serving(model, config) as c:
        ranked = (await c.post("/rank", json={"prompt": "q", "candidates": candidates})).json()
        compared = (await c.post("/compare", json={"prompt": "q", "responses": candidates[:2]})).json()
    assert ranked["method"] == "scores" and ranked["scores"] == pytest.approx(scores, abs=1e-4)
    assert compared["scores"] == pytest.approx(scores[:2], abs=1e-4) and "orders" not in compared


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("llama_multi_label", {}),
        ("deepspeed_chat_opt", {}),
        ("trlx_gptj", {}),
        ("custom_value_head", {"trust_remote_code": True}),
        ("qwen2_token_rm", {"trust_remote_code": True}),
        ("token_classification_prm", {}),
    ],
)
async def test_every_format_serves_get_reward_and_score_unchanged(checkpoint, name, options):
    path = checkpoint(name)
    reference = RewardModel.load(path, **options)
    texts = ["Human: hi\n\nAssistant: hello\n", "one more text to score\n"]
    expected = reference.score(texts)
    expected_conv = reference.score([CONV])
    model, config = loaded(path, **options)
    async with serving(model, config) as c:
        got = (await c.post("/get_reward", json={"query": texts})).json()
        conv = (await c.post("/score", json={"messages": CONV})).json()
    assert got["rewards"] == pytest.approx(expected, abs=1e-5)
    assert conv["score"] == pytest.approx(expected_conv[0], abs=1e-5)
