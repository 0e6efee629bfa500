"""The HTTP API in-process (httpx ASGITransport) over a real tiny Llama checkpoint."""

from __future__ import annotations

import asyncio
import threading

import pytest
import tiny_models
from conftest import FaultyModel
from serving import serving

from rewardkit.config import EngineConfig, ModelConfig, ServerConfig
from rewardkit.models import load_model

pytestmark = pytest.mark.anyio

CONV = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}]


@pytest.fixture
def llama(llama_dir):
    return load_model(llama_dir)


def ref(llama_dir, text: str) -> float:
    tok = tiny_models.decoder_tokenizer()
    return tiny_models.reference_classifier_score(llama_dir, tiny_models.reference_ids(tok, text))


async def test_get_reward_openrlhf_contract(llama, llama_dir):
    texts = ["Human: hi\n\nAssistant: hello", "a much longer text " * 5]
    async with serving(llama) as c:
        r = await c.post("/get_reward", json={"query": texts, "prompts": ["p", "q"], "labels": [None, 1]})
    assert r.status_code == 200
    body = r.json()
    assert body["rewards"] == body["scores"]
    assert body["rewards"] == pytest.approx([ref(llama_dir, t) for t in texts], abs=1e-4)
    assert body["extra_logs"]["truncated"] == [0.0, 0.0]
    assert len(body["extra_logs"]["num_tokens"]) == 2


async def test_many_concurrent_single_sample_requests_match_reference(llama, llama_dir):
    texts = [t[: 20 + 7 * i] for i, t in enumerate(tiny_models.hh_texts(40))]
    async with serving(llama, engine_config=EngineConfig(max_wait_ms=20)) as c:
        responses = await asyncio.gather(*[c.post("/get_reward", json={"query": [t]}) for t in texts])
        metrics = (await c.get("/metrics")).text
    assert all(r.status_code == 200 for r in responses)
    got = [r.json()["rewards"][0] for r in responses]
    assert got == pytest.approx([ref(llama_dir, t) for t in texts], abs=1e-4)
    batches = [line for line in metrics.splitlines() if line.startswith("rewardkit_batch_size_count")]
    assert batches and float(batches[0].split()[-1]) < len(texts)  # requests were batched together


async def test_bare_string_query_is_accepted(llama):
    async with serving(llama) as c:
        r = await c.post("/get_reward", json={"query": "just one"})
    assert r.status_code == 200 and len(r.json()["rewards"]) == 1


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"query": ["ok", 3]}, 422, "query.1"),
        ({"query": None}, 422, "query"),
        ({"queries": ["typo"]}, 422, "query"),
        ({"query": ["a", "b"], "prompts": ["only one"]}, 422, "'prompts' has 1 items but 'query' has 2"),
        ([1, 2], 422, "JSON object"),
    ],
)
async def test_bad_get_reward_bodies(llama, body, status, fragment):
    async with serving(llama) as c:
        r = await c.post("/get_reward", json=body)
    assert r.status_code == status
    assert fragment in r.json()["detail"]


async def test_malformed_json_is_400(llama):
    async with serving(llama) as c:
        r = await c.post("/get_reward", content=b'{"query": ["x",', headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "MalformedJSON"


@pytest.mark.parametrize("raw", [b'{"query": ["\xff\xfe"]}', b"[" * 100_000 + b"]" * 100_000])
async def test_bodies_that_do_not_decode_or_parse_get_the_frameworks_400(llama, raw):
    """The body is parsed before the framework sees it; what fails there still fails its way."""
    async with serving(llama) as c:
        r = await c.post("/get_reward", content=raw, headers={"content-type": "application/json"})
        ok = await c.post("/get_reward", content=b'{"query": ["x"]}', headers={"content-type": "application/json"})
    assert r.status_code == 400 and ok.status_code == 200
    assert len(ok.json()["rewards"]) == 1


async def test_over_long_input_with_truncation_error_is_413(llama_dir):
    model = load_model(llama_dir, ModelConfig(max_length=16))
    async with serving(model, ModelConfig(truncation="error")) as c:
        r = await c.post("/get_reward", json={"query": ["word " * 100]})
        ok = await c.post("/get_reward", json={"query": ["short"]})
    assert r.status_code == 413 and "--truncation left" in r.json()["detail"]
    assert ok.status_code == 200


async def test_truncation_is_reported_and_counted(llama_dir):
    model = load_model(llama_dir, ModelConfig(max_length=16))
    async with serving(model) as c:
        r = await c.post("/get_reward", json={"query": ["word " * 100, "short"]})
        metrics = (await c.get("/metrics")).text
    assert r.json()["extra_logs"]["truncated"] == [1.0, 0.0]
    assert "rewardkit_truncated_total 1.0" in metrics


async def test_score_messages_single_and_batch(llama, llama_dir):
    tok = tiny_models.decoder_tokenizer()
    expected = tiny_models.reference_classifier_score(llama_dir, tiny_models.reference_conversation_ids(tok, CONV))
    async with serving(llama) as c:
        one = await c.post("/score", json={"messages": CONV})
        many = await c.post("/score", json={"conversations": [CONV, CONV]})
    assert one.status_code == 200 and one.json()["score"] == pytest.approx(expected, abs=1e-4)
    assert many.json()["scores"] == pytest.approx([expected, expected], abs=1e-4)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"messages": [{"role": "robot", "content": "x"}, *CONV]}, "unknown role 'robot'"),
        ({"messages": [CONV[0]]}, "at least one 'user' and one 'assistant'"),
        ({"messages": [{"role": "user"}]}, "content"),
        ({"messages": CONV, "conversations": [CONV]}, "exactly one"),
        ({}, "exactly one"),
        ({"conversations": [CONV, [{"role": "user", "content": 5}]]}, "content"),
    ],
)
async def test_bad_score_bodies_are_422(llama, body, fragment):
    async with serving(llama) as c:
        r = await c.post("/score", json=body)
    assert r.status_code == 422 and fragment in r.json()["detail"]


async def test_info_and_health(llama):
    async with serving(llama) as c:
        info = (await c.get("/info")).json()
        health = await c.get("/health")
    assert health.status_code == 200
    assert info["format"] == "hf-sequence-classification" and info["template"] == "model"
    assert info["dtype"] == "float32" and info["device"] == "cpu" and info["max_length"] == 256


async def test_metrics_cover_requests_errors_queue_batches_tokens_latency(llama):
    async with serving(llama) as c:
        await c.post("/get_reward", json={"query": ["a", "bb"]})
        await c.post("/get_reward", json={"query": None})
        text = (await c.get("/metrics")).text
    for name in (
        "rewardkit_requests_total",
        "rewardkit_errors_total",
        "rewardkit_queue_depth",
        "rewardkit_batch_size_bucket",
        'rewardkit_batch_tokens_total{kind="padded"}',
        'rewardkit_batch_tokens_total{kind="real"}',
        "rewardkit_request_latency_seconds_bucket",
    ):
        assert name in text
    assert 'rewardkit_requests_total{route="/get_reward",status="422"} 1.0' in text


async def test_api_key_guards_every_route_but_health(llama):
    async with serving(llama, server_config=ServerConfig(api_key="sekret")) as c:
        assert (await c.get("/health")).status_code == 200
        for method, path in (
            ("POST", "/get_reward"),
            ("POST", "/score"),
            ("GET", "/info"),
            ("GET", "/metrics"),
        ):
            r = await c.request(method, path, json={"query": ["x"]})
            assert r.status_code == 401 and "Bearer" in r.json()["detail"]
        wrong = await c.post("/get_reward", json={"query": ["x"]}, headers={"Authorization": "Bearer nope"})
        right = await c.post("/get_reward", json={"query": ["x"]}, headers={"Authorization": "Bearer sekret"})
    assert wrong.status_code == 401 and right.status_code == 200


async def test_request_body_limit_is_413(llama):
    async with serving(llama, server_config=ServerConfig(max_request_bytes=100)) as c:
        r = await c.post("/get_reward", json={"query": ["x" * 200]})
    assert r.status_code == 413 and "--max-request-bytes" in r.json()["detail"]


def _token(llama, text: str) -> int:
    return llama.tokenizer.convert_tokens_to_ids(text)


async def test_a_failing_batch_fails_only_its_own_requests(llama, llama_dir):
    faulty = FaultyModel(llama, fail_token=_token(llama, "</s>"))
    good = [f"fine text {i}" for i in range(8)]
    async with serving(faulty, engine_config=EngineConfig(max_wait_ms=30)) as c:
        responses = await asyncio.gather(
            c.post("/get_reward", json={"query": ["poison </s>"]}),
            *[c.post("/get_reward", json={"query": [t]}) for t in good],
        )
        health = await c.get("/health")
    bad, *rest = responses
    assert bad.status_code == 500 and "boom" in bad.json()["detail"] and bad.json()["error"] == "BatchFailedError"
    assert [r.status_code for r in rest] == [200] * len(good)
    assert [r.json()["rewards"][0] for r in rest] == pytest.approx([ref(llama_dir, t) for t in good], abs=1e-4)
    assert health.status_code == 200


async def test_nan_score_is_500_for_that_request_only(llama):
    faulty = FaultyModel(llama, nan_token=_token(llama, "<|im_end|>"))
    async with serving(faulty) as c:
        bad = await c.post("/get_reward", json={"query": ["x <|im_end|>"]})
        ok = await c.post("/get_reward", json={"query": ["x"]})
    assert bad.status_code == 500 and "non-finite" in bad.json()["detail"]
    assert ok.status_code == 200


async def test_dead_worker_turns_health_503_and_fails_inflight(llama):
    faulty = FaultyModel(llama, fail_token=_token(llama, "</s>"), fatal=True)
    async with serving(faulty, engine_config=EngineConfig(max_wait_ms=30)) as c:
        responses = await asyncio.gather(
            c.post("/get_reward", json={"query": ["kill </s>"]}),
            *[c.post("/get_reward", json={"query": [f"bystander {i}"]}) for i in range(4)],
        )
        health = await c.get("/health")
        after = await c.post("/get_reward", json={"query": ["later"]})
    assert responses[0].status_code == 503
    assert all(r.status_code in (200, 503) for r in responses)  # none hangs
    assert health.status_code == 503 and "CUDA error" in health.json()["reason"]
    assert after.status_code == 503 and after.json()["error"] == "EngineDeadError"


async def test_full_queue_answers_503_with_retry_after_at_once(llama):
    gate = threading.Event()
    slow = FaultyModel(llama, gate=gate)
    async with serving(slow, engine_config=EngineConfig(max_queue=4, max_wait_ms=0)) as c:
        first = asyncio.create_task(c.post("/get_reward", json={"query": ["running"]}))
        await asyncio.to_thread(slow.entered.wait, 10)  # the worker is busy with `first`
        queued = asyncio.create_task(c.post("/get_reward", json={"query": ["w1", "w2", "w3", "w4"]}))
        while (await c.get("/metrics")).text.find("rewardkit_queue_depth 4.0") < 0:
            await asyncio.sleep(0.01)
        refused = await c.post("/get_reward", json={"query": ["one too many"]})
        gate.set()
        assert (await first).status_code == 200 and (await queued).status_code == 200
    assert refused.status_code == 503 and int(refused.headers["retry-after"]) >= 1
    assert "queue is full" in refused.json()["detail"]


async def test_request_larger_than_the_queue_is_413(llama):
    async with serving(llama, engine_config=EngineConfig(max_queue=4)) as c:
        r = await c.post("/get_reward", json={"query": ["x"] * 5})
    assert r.status_code == 413 and "split it" in r.json()["detail"]
