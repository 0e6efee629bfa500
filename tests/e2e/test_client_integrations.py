"""verl, TRL (async) and OpenRLHF (several URLs) against real `rewardkit serve` processes with a
reward function beside the model, plus a server of reward functions alone."""

from __future__ import annotations

import asyncio
import importlib
import time

import httpx
import pytest
from processes import start_server, start_servers, stop_server

from rewardkit import Client
from rewardkit.integrations import openrlhf_reward, verl
from rewardkit.integrations.trl import RemoteRewardFunction, async_reward_function

pytestmark = pytest.mark.e2e

QUESTION = "Natalia sold 48 clips in April and half as many in May. How many clips did she sell?"
COOL_DOWN_PAST = 2.5  # seconds: longer than a second failure's cool-down (client/endpoints.py)
ANSWERS = ["48 + 24 = 72.\n#### 72", "She sold 70 clips.", "The answer is 72.", "24"]


@pytest.fixture(scope="module")
def servers(checkpoint):
    started = start_servers(2, str(checkpoint("llama")), "--reward-fn", "math", "--weights", "math=0.5")
    try:
        yield [url for _, url in started]
    finally:
        for proc, _ in started:
            stop_server(proc)


def chat(answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": answer}]


def requests_served(url: str, route: str = "/score") -> float:
    lines = httpx.get(url + "/metrics").text.splitlines()
    return sum(
        float(line.split()[-1])
        for line in lines
        if line.startswith(f'rewardkit_requests_total{{route="{route}",status="200"}}')
    )


def test_verl_compute_score_runs_concurrently_and_equals_get_reward(servers, monkeypatch):
    monkeypatch.setenv("REWARDKIT_URL", servers[0])
    with Client(servers[0]) as rk:
        expected = rk.get_reward_conversations([chat(a) for a in ANSWERS], ["#### 72"] * 4)

    async def batch():
        calls = [
            verl.compute_score("openai/gsm8k", answer, "#### 72", {"question": QUESTION, "split": "train"})
            for answer in ANSWERS
        ]
        return await asyncio.gather(*calls)

    got = asyncio.run(batch())
    assert [g["score"] for g in got] == pytest.approx(expected["rewards"], abs=1e-5)
    assert [g["math"] for g in got] == [1.0, 0.0, 1.0, 0.0]
    assert [g["model"] for g in got] == pytest.approx(expected["extra_logs"]["model"], abs=1e-5)


def test_verls_exact_classify_call_over_http(servers, checkpoint):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint("llama"))
    text = tokenizer.apply_chat_template(chat(ANSWERS[0]), add_generation_prompt=False, tokenize=False)
    text = text.removeprefix(tokenizer.bos_token)

    async def post():
        async with httpx.AsyncClient() as session:
            body = {"model": str(checkpoint("llama")), "input": text, "use_activation": False}
            response = await session.post(servers[0] + "/classify", json=body)
            response.raise_for_status()
            return response.json()

    output = asyncio.run(post())
    with Client(servers[0]) as rk:
        expected = rk.get_reward([text], None, ["#### 72"])["extra_logs"]["model"][0]
    assert output["data"][-1]["probs"][-1] == pytest.approx(expected, abs=1e-5)


def test_trl_async_and_sync_reward_functions(servers):
    prompts = [[{"role": "user", "content": QUESTION}]] * len(ANSWERS)
    completions = [[{"role": "assistant", "content": a}] for a in ANSWERS]
    fn = async_reward_function(servers, name="rm_and_math", label_column="answer")
    sync = RemoteRewardFunction(servers[0], label_column="answer")

    async def trainer_step():
        return await asyncio.gather(
            fn(prompts=prompts, completions=completions, answer=["72"] * 4, trainer_state=None),
            fn(prompts=[QUESTION] * 4, completions=ANSWERS, answer=["72"] * 4),
        )

    conversational, plain = asyncio.run(trainer_step())
    with Client(servers[0]) as rk:
        expected = rk.get_reward_conversations([chat(a) for a in ANSWERS], ["72"] * 4)["rewards"]
        expected_plain = rk.get_reward([QUESTION + a for a in ANSWERS], None, ["72"] * 4)["rewards"]
    assert fn.__name__ == "rm_and_math"
    assert conversational == pytest.approx(expected, abs=1e-5)
    assert plain == pytest.approx(expected_plain, abs=1e-5)
    assert sync(prompts=prompts, completions=completions, answer=["72"] * 4) == pytest.approx(expected, abs=1e-5)


def test_openrlhf_several_urls_round_robin_and_empty_shards(servers, monkeypatch):
    monkeypatch.setenv("REWARDKIT_URL", ",".join(servers))
    module = importlib.reload(openrlhf_reward)
    before = [requests_served(url, "/get_reward") for url in servers]
    queries = [QUESTION + a for a in ANSWERS]
    for _ in range(6):
        out = module.reward_func(queries, [QUESTION] * 4, ["72"] * 4)
    after = [requests_served(url, "/get_reward") for url in servers]
    assert [a - b for a, b in zip(after, before)] == [3.0, 3.0]
    assert out["extra_logs"]["math"].tolist() == [1.0, 0.0, 1.0, 0.0]
    # OpenRLHF itself shards one sample over every URL: the other servers get empty lists
    empty = httpx.post(servers[1] + "/get_reward", json={"query": [], "prompts": [], "labels": []})
    assert empty.status_code == 200 and empty.json() == {"rewards": [], "scores": [], "extra_logs": {}}


def test_failover_loses_no_reward_and_a_server_back_is_used_again(checkpoint):
    model = str(checkpoint("llama"))
    (steady, steady_url), (leaving, leaving_url) = start_servers(2, model)
    texts = [QUESTION + a for a in ANSWERS]
    try:
        with Client([leaving_url, steady_url], retries=1) as rk:
            expected = rk.score(texts)
            stop_server(leaving)  # one server goes away between calls: every call still gets its rewards
            for _ in range(6):
                assert rk.score(texts) == pytest.approx(expected, abs=1e-5)
            last_failure = time.monotonic()  # the client saw the server gone at the latest in those calls
            leaving, _ = start_server(model, port=int(leaving_url.rsplit(":", 1)[1]))
            # past its cool-down it must pass GET /health, then gets work again
            time.sleep(max(0.0, last_failure + COOL_DOWN_PAST - time.monotonic()))
            for _ in range(6):
                assert rk.score(texts) == pytest.approx(expected, abs=1e-5)
            assert requests_served(leaving_url) >= 2
    finally:
        stop_server(leaving)
        stop_server(steady)


def test_reward_functions_served_alone_from_the_cli():
    proc, url = start_server(None, "--reward-fn", "math")
    try:
        with Client(url) as rk:
            answer = rk.get_reward(ANSWERS, None, ["72"] * 4)
            info = rk.info()
        refused = httpx.post(url + "/score", json={"messages": chat("x")})
    finally:
        stop_server(proc)
    assert answer["rewards"] == [1.0, 0.0, 1.0, 0.0] and answer["extra_logs"] == {"math": [1.0, 0.0, 1.0, 0.0]}
    assert info["model"] is None and refused.status_code == 404
