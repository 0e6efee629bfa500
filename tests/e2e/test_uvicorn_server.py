"""A real `rewardkit serve` process on 127.0.0.1, driven by the clients and trainer integrations."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import httpx
import pytest
import tiny_models
from processes import free_port, start_server, stop_server

from rewardkit import AsyncClient, Client, ServerResponseError

pytestmark = pytest.mark.e2e

CONV = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}]


@pytest.fixture(scope="module")
def server(checkpoint):
    proc, url = start_server(str(checkpoint("llama")), "--api-key", "k3y", "--max-wait-ms", "5")
    yield url
    stop_server(proc)


def reference(checkpoint, text: str) -> float:
    tok = tiny_models.decoder_tokenizer()
    return tiny_models.reference_classifier_score(checkpoint("llama"), tiny_models.reference_ids(tok, text))


def test_sync_client_scores_texts_and_messages(server, checkpoint):
    texts = ["hello", "a longer answer to score " * 3]
    with Client(server, api_key="k3y") as rk:
        assert rk.health()
        assert rk.score(texts) == pytest.approx([reference(checkpoint, t) for t in texts], abs=1e-4)
        assert len(rk.score([CONV, CONV])) == 2
        assert rk.info()["format"] == "hf-sequence-classification"


def test_async_client_under_concurrency_matches_reference(server, checkpoint):
    texts = [t[: 30 + 5 * i] for i, t in enumerate(tiny_models.hh_texts(48))]

    async def run():
        async with AsyncClient(server, api_key="k3y") as rk:
            return await asyncio.gather(*[rk.score([t]) for t in texts])

    got = [r[0] for r in asyncio.run(run())]
    assert got == pytest.approx([reference(checkpoint, t) for t in texts], abs=1e-4)


def test_client_raises_a_clear_error_without_retrying_4xx(server):
    with Client(server, api_key="k3y") as rk, pytest.raises(ServerResponseError) as info:
        rk.score([[{"role": "wizard", "content": "x"}, *CONV]])
    assert info.value.status_code == 422 and "unknown role" in str(info.value)
    with Client(server) as anonymous, pytest.raises(ServerResponseError) as info:
        anonymous.score(["x"])
    assert info.value.status_code == 401


def test_openrlhf_reward_func_file_as_openrlhf_loads_it(server, checkpoint, monkeypatch):
    import rewardkit.integrations.openrlhf_reward as module

    monkeypatch.setenv("REWARDKIT_URL", server)
    monkeypatch.setenv("REWARDKIT_API_KEY", "k3y")
    spec = importlib.util.spec_from_file_location("reward_func", Path(module.__file__))
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    queries = ["q one", "q two longer"]
    out = loaded.reward_func(queries, ["p1", "p2"], ["l1", "l2"])
    assert out["rewards"].tolist() == pytest.approx([reference(checkpoint, q) for q in queries], abs=1e-4)
    assert out["scores"].shape == (2,) and "truncated" in out["extra_logs"]


def test_trl_reward_function_with_strings_and_conversations(server, checkpoint):
    from rewardkit.integrations.trl import RemoteRewardFunction

    fn = RemoteRewardFunction(server, api_key="k3y")
    assert fn.__name__ == "rewardkit"
    got = fn(prompts=["Say hi: ", "Count: "], completions=["hi", "1 2 3"])
    assert got == pytest.approx([reference(checkpoint, "Say hi: hi"), reference(checkpoint, "Count: 1 2 3")], abs=1e-4)
    conv = fn(prompts=[[CONV[0]]], completions=[[CONV[1]]])
    with Client(server, api_key="k3y") as rk:
        assert conv == pytest.approx(rk.score([CONV]), abs=1e-6)


FRANCE_DETAILED = "The capital of France is Paris, known for the Eiffel Tower."


def test_make_serve_default_serves_the_trained_builtin_model():
    """`rewardkit serve` with no model (what `make serve` runs) serves the assembled built-in model,
    with its held-out figures in /info and the same scores as the Python API."""
    from rewardkit import RewardModel
    from rewardkit.models.builtin import builtin_head

    local = RewardModel.load("builtin", dtype="float32")
    templated = local.templater.render(CONV)  # what an OpenRLHF client sends
    proc, url = start_server(None, forward_process=True)  # as `make serve` runs it: forward process included
    try:
        with Client(url) as rk:
            info = rk.info()
            scores = rk.score([CONV])
            rewards = rk.get_reward([templated])["rewards"]
            # the README's first /best_of_n example
            france = rk.best_of_n(["Paris.", FRANCE_DETAILED, "London."], prompt="What is the capital of France?")
    finally:
        stop_server(proc)
    assert france["best"] != 2, france["scores"]
    assert info["architecture"] == "LlamaForSequenceClassification" and info["pad_token"] == "<|im_end|>"
    assert info["evaluation"] == builtin_head()["evaluation"] and info["forward_process"]
    assert scores == pytest.approx(local.score([CONV]), abs=1e-4)
    assert rewards == pytest.approx(scores, abs=1e-4)  # templated by the client or by the server: one reward


def test_client_gives_up_with_the_connection_error_after_its_retries():
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with Client(url, retries=1, timeout=2) as rk, pytest.raises(httpx.ConnectError):
        rk.score(["x"])


def test_served_custom_code_model_returns_objectives_through_the_clients(checkpoint):
    import tiny_custom

    path = checkpoint("armo_gating")
    proc, url = start_server(str(path), "--trust-remote-code", "--objective", "correctness")
    try:
        with Client(url) as rk:
            chosen = rk.score([CONV])
            gated = rk.score([CONV], objective="score")
            ranked = rk.rank(["hello there", "go away"], prompt="hi")
            compared = rk.compare(["hello there", "go away"], prompt="hi")
        tok = tiny_models.decoder_tokenizer()
        score, rewards, _ = tiny_custom.reference_armo(path, tiny_models.reference_conversation_ids(tok, CONV))
        assert chosen[0] == pytest.approx(rewards[1], abs=1e-4)
        assert gated[0] == pytest.approx(score, abs=1e-4)
        assert ranked["scores"][0] == pytest.approx(rewards[1], abs=1e-4) and ranked["method"] == "scores"
        assert compared["winner"] == (0 if compared["probability"] >= 0.5 else 1)
    finally:
        stop_server(proc)


def test_served_pairwise_model_compares_and_ranks(checkpoint):
    import tiny_pairwise

    path = checkpoint("pairwise_lm")
    proc, url = start_server(str(path), "--pairwise")
    try:

        async def run():
            async with AsyncClient(url) as rk:
                return await asyncio.gather(
                    rk.compare(["thanks helpful", "rude"], prompt="fix my bike"),
                    rk.rank(["wrong", "mean", "great", "awful"], prompt="fix my bike", method="knockout"),
                )

        compared, ranked = asyncio.run(run())
        expected = tiny_pairwise.reference_preference(
            path, tiny_pairwise.rlhflow_context(["fix my bike"]), "thanks helpful", "rude"
        )
        assert compared["probability"] == pytest.approx(expected, abs=1e-4)
        assert ranked["best"] == 2 and ranked["comparisons"] == 3
    finally:
        stop_server(proc)
