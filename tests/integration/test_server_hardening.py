"""Inputs that used to reach a 500 or grow the server's state, each now a clear 4xx or a bounded
label (in-process over a real tiny Llama; the uvicorn-level probes are in tests/e2e)."""

from __future__ import annotations

import pytest
from serving import serving

from rewardkit.config import ServerConfig
from rewardkit.errors import InvalidInputError
from rewardkit.models import load_model
from rewardkit.serving import build

pytestmark = pytest.mark.anyio

CONV = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}]
SURROGATE = '"\\ud800"'  # JSON text for a lone UTF-16 surrogate
BODIES = {
    "/get_reward": '{"query": [%s]}',
    "/score": '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": %s}]}',
    "/compare": '{"prompt": "q", "responses": ["a", %s]}',
    "/rank": '{"prompt": %s, "candidates": ["a", "b"]}',
    "/best_of_n": '{"prompt": "q", "candidates": [%s, "b"]}',
}


@pytest.fixture
def llama(llama_dir):
    return load_model(llama_dir)


@pytest.mark.parametrize("route", sorted(BODIES))
async def test_a_lone_surrogate_is_a_422_that_names_it_on_every_route(llama, route):
    async with serving(llama) as c:
        r = await c.post(route, content=BODIES[route] % SURROGATE, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert "lone surrogate" in r.text and r.json()["error"]


@pytest.mark.parametrize("objective", ["²", "1" * 5000, "-1", "٣"])
async def test_odd_objectives_are_unknown_objectives_not_500(llama, objective):
    async with serving(llama) as c:
        r = await c.post("/get_reward", json={"query": ["x"], "objective": objective})
    assert r.status_code == 422, r.text
    assert "unknown objective" in r.json()["detail"] and len(r.text) < 400


async def test_a_non_ascii_authorization_header_is_a_401_and_a_non_ascii_key_works(llama):
    key = "clé-secrète"
    async with serving(llama, server_config=ServerConfig(api_key=key)) as c:
        wrong = await c.post("/get_reward", json={"query": ["x"]}, headers=[(b"authorization", b"Bearer \xe9\xff")])
        right = await c.post(
            "/get_reward", json={"query": ["x"]}, headers=[(b"authorization", b"Bearer " + key.encode("utf-8"))]
        )
    assert wrong.status_code == 401 and wrong.json()["error"] == "Unauthorized"
    assert right.status_code == 200


@pytest.mark.parametrize("key", ["", "  "])
def test_an_empty_api_key_is_refused_at_start_up(llama, key, monkeypatch):
    monkeypatch.delenv("REWARDKIT_SERVER_API_KEY", raising=False)
    with pytest.raises(InvalidInputError, match="--api-key is empty"):
        build(llama, server_config=ServerConfig(api_key=key))
    monkeypatch.setenv("REWARDKIT_SERVER_API_KEY", "")
    with pytest.raises(InvalidInputError, match="REWARDKIT_SERVER_API_KEY is empty"):
        build(llama)


async def test_the_server_reads_its_own_key_variable_never_the_clients(llama, monkeypatch):
    monkeypatch.setenv("REWARDKIT_API_KEY", "the-key-a-trainer-sends")  # exported for clients in this shell
    monkeypatch.delenv("REWARDKIT_SERVER_API_KEY", raising=False)
    async with serving(llama) as c:
        assert (await c.post("/get_reward", json={"query": ["x"]})).status_code == 200
    monkeypatch.setenv("REWARDKIT_SERVER_API_KEY", "s3rver")
    async with serving(llama) as c:
        refused = await c.post("/get_reward", json={"query": ["x"]})
        accepted = await c.post("/get_reward", json={"query": ["x"]}, headers={"Authorization": "Bearer s3rver"})
    assert (refused.status_code, accepted.status_code) == (401, 200)


async def test_random_paths_do_not_grow_metrics_and_head_answers_where_get_does(llama):
    async with serving(llama) as c:
        for i in range(50):
            assert (await c.get(f"/no/such/path/{i}")).status_code == 404
        await c.get("/metrics")  # its own series exist from here on
        before = (await c.get("/metrics")).text
        for i in range(50, 300):
            await c.get(f"/no/such/path/{i}")
        after = (await c.get("/metrics")).text
        heads = [(await c.head(path)).status_code for path in ("/health", "/info", "/metrics")]
    assert "/no/such/path" not in after
    assert 'route="unmatched"' in after
    assert len(after.splitlines()) == len(before.splitlines())  # counts change, the set of series does not
    assert heads == [200, 200, 200]


async def test_known_routes_keep_their_own_metric_label(llama):
    async with serving(llama) as c:
        await c.post("/get_reward", json={"query": ["x"]})
        text = (await c.get("/metrics")).text
    assert any('route="/get_reward"' in line for line in text.splitlines())


def test_serve_refuses_an_empty_api_key_before_listening(llama_dir, monkeypatch):
    from typer.testing import CliRunner

    from rewardkit.cli import app

    monkeypatch.delenv("REWARDKIT_SERVER_API_KEY", raising=False)
    result = CliRunner().invoke(app, ["serve", str(llama_dir), "--api-key", ""])
    assert result.exit_code == 2
    assert "--api-key is empty" in result.output


async def test_the_body_limit_holds_for_chunked_uploads_without_a_content_length(llama):
    async def chunked(text: str):
        data = text.encode()
        for start in range(0, len(data), 100):
            yield data[start : start + 100]

    small = '{"query": ["%s"]}' % ("x" * 200)
    large = '{"query": ["%s"]}' % ("x" * 5000)
    async with serving(llama, server_config=ServerConfig(max_request_bytes=2000)) as c:
        ok = await c.post("/get_reward", content=chunked(small), headers={"content-type": "application/json"})
        refused = await c.post("/get_reward", content=chunked(large), headers={"content-type": "application/json"})
    assert ok.status_code == 200, ok.text
    assert "content-length" not in ok.request.headers
    assert refused.status_code == 413 and refused.json()["error"] == "RequestTooLarge"
