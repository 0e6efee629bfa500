"""/get_reward with reward functions served beside the model (in-process, a real tiny Llama and
real worker processes): the combination, every part in extra_logs, a failing rule failing only
its own request, and reward functions served alone."""

from __future__ import annotations

import asyncio

import pytest
from serving import serving_app

from rewardkit.config import RewardsConfig
from rewardkit.errors import InvalidInputError
from rewardkit.models import load_model
from rewardkit.serving import build

pytestmark = pytest.mark.anyio

RULES = """
import time

def brevity(response):
    if "explode" in response:
        raise RuntimeError("exploded on purpose")
    if "stall" in response:
        time.sleep(30)
    return -len(response) / 100

def reward_func(queries, prompts, labels):
    return {"rewards": [1.0 if l == "5" else 0.0 for l in labels], "extra_logs": {"seen": [1.0] * len(queries)}}
"""

PROMPT = "Question: Natalia sold 48 clips in April and half as many in May. How many in all?\nAnswer:"
ANSWERS = [" 48 + 24 = 72.\n#### 72", " She sold 70.", " #### 72"]


@pytest.fixture
def rules_file(tmp_path):
    path = tmp_path / "serve_rules.py"
    path.write_text(RULES)
    return path


@pytest.fixture
def llama(llama_dir):
    return load_model(llama_dir)


def served(model, rules_file, **options):
    specs = ["math", f"{rules_file}:brevity", f"agree={rules_file}:reward_func"]
    config = RewardsConfig(reward_fn=specs, reward_fn_timeout=2.0, **options)
    return serving_app(build(model, rewards_config=config))


async def test_the_reward_is_the_weighted_sum_of_its_parts(llama, rules_file):
    queries = [PROMPT + a for a in ANSWERS]
    async with served(llama, rules_file, weights="model=2,math=0.5,agree=-1") as c:
        chat = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]
        unlabelled = await c.post("/score", json={"conversations": [chat]})
        labels = ["72", "72", "5"]
        answer = (
            await c.post("/get_reward", json={"query": queries, "prompts": [PROMPT] * 3, "labels": labels})
        ).json()
        info = (await c.get("/info")).json()
    assert "extra_logs" in answer, answer
    logs = answer["extra_logs"]
    assert logs["math"] == [1.0, 0.0, 0.0]  # the third label (5) is not 72
    assert logs["brevity"] == pytest.approx([-len(a) / 100 for a in ANSWERS])
    assert logs["agree"] == [0.0, 0.0, 1.0] and logs["agree/seen"] == [1.0, 1.0, 1.0]
    expected = [
        2 * m + 0.5 * a + b - g for m, a, b, g in zip(logs["model"], logs["math"], logs["brevity"], logs["agree"])
    ]
    assert answer["rewards"] == pytest.approx(expected) and answer["scores"] == answer["rewards"]
    assert len(logs["num_tokens"]) == 3
    assert answer["model_rewards"] == logs["model"]
    assert unlabelled.status_code == 422 and "labels" in unlabelled.json()["detail"]  # /score runs the rules too
    assert info["reward_functions"]["weights"] == {"model": 2.0, "math": 0.5, "brevity": 1.0, "agree": -1.0}
    assert [r["form"] for r in info["reward_functions"]["rules"]] == ["per-sample", "per-sample", "batch"]


async def test_the_model_part_equals_the_model_alone(llama, rules_file):
    queries = [PROMPT + a for a in ANSWERS]
    async with serving_app(build(llama)) as c:
        alone = (await c.post("/get_reward", json={"query": queries})).json()
    async with served(llama, rules_file) as c:
        combined = (await c.post("/get_reward", json={"query": queries, "labels": ["72"] * 3})).json()
    assert combined["extra_logs"]["model"] == pytest.approx(alone["rewards"], abs=1e-6)
    assert "model" not in alone["extra_logs"]  # without rules the answer is as it always was


async def test_conversations_are_templated_and_the_last_message_is_the_response(llama, rules_file):
    chats = [[{"role": "user", "content": PROMPT}, {"role": "assistant", "content": a}] for a in ANSWERS]
    labels = ["72", "72", "5"]
    async with served(llama, rules_file) as c:
        scored = (await c.post("/score", json={"conversations": chats, "labels": labels})).json()
        answer = (await c.post("/get_reward", json={"conversations": chats, "labels": labels})).json()
    # the same input gets the same reward on /score, with the model's own and each function's beside it
    assert scored["scores"] == pytest.approx(answer["rewards"], abs=1e-6)
    assert scored["model_scores"] == pytest.approx(answer["extra_logs"]["model"], abs=1e-6)
    assert scored["rule_scores"]["math"] == answer["extra_logs"]["math"] == [1.0, 0.0, 0.0]
    assert answer["extra_logs"]["brevity"] == pytest.approx([-len(a) / 100 for a in ANSWERS])
    assert answer["extra_logs"]["math"] == [1.0, 0.0, 0.0]


@pytest.mark.parametrize(("trigger", "why"), [("explode", "exploded on purpose"), ("stall", "--reward-fn-timeout")])
async def test_a_failing_rule_fails_its_request_only(llama, rules_file, trigger, why):
    async with served(llama, rules_file) as c:
        bad, good = await asyncio.gather(
            c.post("/get_reward", json={"query": ["fine", f"please {trigger}"], "labels": ["1", "1"]}),
            c.post("/get_reward", json={"query": ["fine", "also fine"], "labels": ["1", "1"]}),
        )
        after = await c.post("/get_reward", json={"query": ["fine"], "labels": ["1"]})
    assert bad.status_code == 500 and bad.json()["error"] == "RuleFailedError"
    assert "'brevity' failed on item 1" in bad.json()["detail"] and why in bad.json()["detail"]
    assert good.status_code == 200 and len(good.json()["rewards"]) == 2
    assert after.status_code == 200


async def test_empty_shards_get_empty_answers(llama, rules_file):
    async with served(llama, rules_file) as c:
        answer = await c.post("/get_reward", json={"query": [], "prompts": [], "labels": []})
    assert answer.status_code == 200 and answer.json() == {"rewards": [], "scores": [], "extra_logs": {}}


async def test_reward_functions_served_alone(rules_file):
    config = RewardsConfig(reward_fn=["math", f"{rules_file}:brevity"], weights="math=2")
    async with serving_app(build(None, rewards_config=config)) as c:
        health = await c.get("/health")
        answer = (await c.post("/get_reward", json={"query": ANSWERS, "labels": ["72"] * 3})).json()
        score = await c.post("/score", json={"messages": [{"role": "user", "content": "x"}]})
        classify = await c.post("/classify", json={"input": "x"})
        info = (await c.get("/info")).json()
    assert health.status_code == 200 and info["model"] is None
    logs = answer["extra_logs"]
    assert "model" not in logs and logs["math"] == [1.0, 0.0, 1.0]
    assert answer["rewards"] == pytest.approx([2 * m + b for m, b in zip(logs["math"], logs["brevity"])])
    assert score.status_code == 404 and "no model" in score.json()["detail"]
    assert classify.status_code == 404 and "no model" in classify.json()["error"]["message"]


def test_bad_weights_and_specs_fail_when_the_app_is_built(llama, rules_file):
    with pytest.raises(InvalidInputError, match="NAME one of model, math"):
        build(llama, rewards_config=RewardsConfig(reward_fn=["math"], weights="lenght=1"))
    with pytest.raises(InvalidInputError, match="nothing to serve"):
        from rewardkit.config import EnsembleConfig, ServerConfig
        from rewardkit.serving import build_from_sources

        build_from_sources([], None, None, ServerConfig(), EnsembleConfig(), RewardsConfig())
