"""The reliability suite over real sockets: uvicorn on 127.0.0.1 (in a thread, or a `rewardkit serve`
process for signals) with a real tiny Llama. Overload, a disconnect storm, a chunked oversized body,
a stalled body, SIGTERM with work in flight, and property-based bad input (hypothesis, and
schemathesis over the OpenAPI schema): never a 5xx, never a wrong score. Bounded in count; a gate
holds the model mid-forward where a queue state must be exact."""

from __future__ import annotations

import json
import re
import signal
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import httpx
import pytest
import schemathesis
from conftest import FaultyModel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from processes import app_in_thread, start_server, stop_server

from rewardkit.config import EngineConfig, ServerConfig
from rewardkit.models import load_model
from rewardkit.serving import build

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def llama(checkpoint):
    return load_model(checkpoint("llama"))


@pytest.fixture(scope="module")
def server(llama):
    """One plain server for the property-based runs."""
    with app_in_thread(build(llama, server_config=ServerConfig(max_items_per_request=64)), lifespan="on") as url:
        yield url


@pytest.fixture(scope="module")
def http():
    """One connection pool for the property-based runs' hundreds of requests."""
    with httpx.Client() as client:
        yield client


def metric(url: str, name: str) -> float:
    found = re.search(rf"^{name} ([0-9.e+-]+)$", httpx.get(url + "/metrics").text, re.M)
    return float(found.group(1)) if found else 0.0


def wait_for(predicate, tries: int = 500) -> None:
    import time

    for _ in range(tries):
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("the condition never held")


def raw(url: str, head: bytes, body: bytes = b"", *, close: bool = False) -> socket.socket:
    """A socket that has sent ``head`` + ``body`` and not (yet) read anything."""
    where = urlparse(url)
    sock = socket.create_connection((where.hostname, where.port), timeout=20)
    sock.sendall(head + body)
    if close:
        sock.close()
    return sock


def post_head(path: str, length: int | None = None, chunked: bool = False) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: rk", "Content-Type: application/json"]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(head.split()[1]), json.loads(rest[:length])


@pytest.fixture
def gated(llama):
    gate = threading.Event()
    yield FaultyModel(llama, gate=gate)
    gate.set()


def test_overload_refuses_fast_and_every_accepted_answer_is_right(gated):
    app = build(gated, engine_config=EngineConfig(max_queue=32, max_batch_size=8))
    texts = [f"answer number {i} is {'yes' * (i % 5)}" for i in range(32)]
    with app_in_thread(app, lifespan="on") as url, ThreadPoolExecutor(8) as pool:
        held = pool.submit(httpx.post, url + "/get_reward", json={"query": ["held"]}, timeout=60)
        gated.entered.wait(10)
        accepted = pool.submit(httpx.post, url + "/get_reward", json={"query": texts}, timeout=60)
        wait_for(lambda: metric(url, "rewardkit_queue_depth") == 32)
        burst = list(pool.map(lambda i: httpx.post(url + "/get_reward", json={"query": [f"t{i}"]}), range(40)))
        gated.gate.set()
        rewards = accepted.result().json()["rewards"]
        alone = [httpx.post(url + "/get_reward", json={"query": [t]}).json()["rewards"][0] for t in texts]
        assert held.result().status_code == 200
    assert {r.status_code for r in burst} == {503}
    assert all(r.json()["error"] == "QueueFullError" and int(r.headers["retry-after"]) >= 1 for r in burst)
    assert rewards == pytest.approx(alone, abs=1e-4)


def test_a_disconnect_storm_leaves_no_abandoned_work_in_the_queue(gated):
    with app_in_thread(build(gated), lifespan="on") as url, ThreadPoolExecutor(2) as pool:
        held = pool.submit(httpx.post, url + "/get_reward", json={"query": ["held"]}, timeout=60)
        gated.entered.wait(10)
        body = json.dumps({"query": [f"abandoned {i}" for i in range(40)]}).encode()
        sockets = [raw(url, post_head("/get_reward", len(body)), body) for _ in range(10)]
        wait_for(lambda: metric(url, "rewardkit_queue_depth") == 400)
        for sock in sockets:
            sock.close()
        wait_for(lambda: metric(url, "rewardkit_queue_depth") == 0)
        gated.gate.set()
        assert held.result().status_code == 200
        assert httpx.post(url + "/get_reward", json={"query": ["after"]}).status_code == 200
        assert metric(url, "rewardkit_sequences_scored_total") == 2


def test_a_chunked_oversized_body_is_413_and_a_stalled_body_408(llama):
    config = ServerConfig(max_request_bytes=4096, body_timeout=0.5)
    with app_in_thread(build(llama, server_config=config), lifespan="on") as url:
        chunk = b'{"query": ["' + b"x" * 3000
        sock = raw(url, post_head("/get_reward", chunked=True), b"%x\r\n%s\r\n" % (len(chunk), chunk) * 2)
        status, body = read_response(sock)
        sock.close()
        assert (status, body["error"]) == (413, "RequestTooLarge")
        stalled = raw(url, post_head("/get_reward", 1000), b'{"query": ')
        status, body = read_response(stalled)
        stalled.close()
        assert (status, body["error"]) == (408, "RequestTimeout")
        assert httpx.post(url + "/get_reward", json={"query": ["still serving"]}).status_code == 200


def test_sigterm_finishes_work_in_flight_then_exits(checkpoint):
    proc, url = start_server(str(checkpoint("llama")), "--drain-timeout", "60")
    try:
        texts = [f"text {i} " + "word " * 40 for i in range(600)]
        with ThreadPoolExecutor(1) as pool:
            reply = pool.submit(httpx.post, url + "/get_reward", json={"query": texts}, timeout=120)
            wait_for(lambda: metric(url, "rewardkit_sequences_scored_total") > 0)
            proc.send_signal(signal.SIGTERM)
            response = reply.result()
        code = proc.wait(timeout=60)  # uvicorn re-raises the signal once it has stopped cleanly
    finally:
        stop_server(proc)
    assert response.status_code == 200 and len(response.json()["rewards"]) == 600
    assert code in (0, -signal.SIGTERM)
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/health", timeout=2)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FIELDS = ["query", "messages", "conversations", "prompt", "responses", "candidates", "objective", "method", "role"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(["/get_reward", "/score", "/compare", "/rank", "/best_of_n"]),
    body=st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=4) | JSON_VALUES,
)
def test_no_json_body_gets_a_5xx(server, http, route, body):
    r = http.post(server + route, content=json.dumps(body), headers={"content-type": "application/json"})
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert set(r.json()) == {"detail", "error"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.binary(max_size=200),
    path=st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Z")), min_size=1, max_size=30),
)
def test_no_bytes_and_no_path_gets_a_5xx(server, http, body, path):
    r = http.post(server + "/get_reward", content=body, headers={"content-type": "application/json"})
    odd = http.get(server + "/" + path.replace("?", "").replace("#", ""))
    assert r.status_code < 500 and odd.status_code < 500
    assert set(r.json()) == {"detail", "error"}


def test_schemathesis_finds_no_5xx_over_the_openapi_schema(server):
    schema = schemathesis.openapi.from_url(server + "/openapi.json")
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case):
            response = case.call(base_url=server)
            if response.status_code >= 500:
                failures.append((case.operation.label, response.status_code, response.text[:200]))

        check()
    assert failures == []
