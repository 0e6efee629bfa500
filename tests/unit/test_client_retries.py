"""The clients' retry policy. The peer is httpx.MockTransport, a scripted stand-in for a busy server;
the real server's 503/Retry-After answer is covered in tests/integration/test_server.py."""

from __future__ import annotations

import httpx
import pytest

from rewardkit import AsyncClient, Client, ServerResponseError
from rewardkit.client import RetryPolicy

OK = {"rewards": [1.5], "scores": [1.5], "extra_logs": {}}


def scripted(*statuses: int):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        status = statuses[min(len(calls) - 1, len(statuses) - 1)]
        if status == 200:
            return httpx.Response(200, json=OK)
        return httpx.Response(status, json={"detail": f"status {status}"}, headers={"Retry-After": "0"})

    return handler, calls


def test_busy_server_is_retried_until_it_answers():
    handler, calls = scripted(503, 429, 200)
    with Client("http://rk", transport=httpx.MockTransport(handler)) as rk:
        assert rk.score(["x"]) == [1.5]
    assert len(calls) == 3


def test_caller_errors_are_not_retried():
    handler, calls = scripted(422)
    with Client("http://rk", transport=httpx.MockTransport(handler)) as rk, pytest.raises(ServerResponseError) as e:
        rk.score(["x"])
    assert len(calls) == 1 and e.value.status_code == 422 and "status 422" in str(e.value)


def test_retries_are_bounded():
    handler, calls = scripted(503)
    with (
        Client("http://rk", retries=2, transport=httpx.MockTransport(handler)) as rk,
        pytest.raises(ServerResponseError) as e,
    ):
        rk.score(["x"])
    assert len(calls) == 3 and e.value.retry_after == 0


@pytest.mark.anyio
async def test_async_client_follows_the_same_policy():
    handler, calls = scripted(502, 200)
    async with AsyncClient("http://rk", transport=httpx.MockTransport(handler)) as rk:
        assert await rk.score(["x"]) == [1.5]
    assert len(calls) == 2
    assert calls[0].headers.get("authorization") is None


def test_a_reward_server_error_is_final_but_a_sampling_policy_retries_any_5xx():
    handler, calls = scripted(500)
    with Client("http://rk", transport=httpx.MockTransport(handler)) as rk, pytest.raises(ServerResponseError):
        rk.score(["x"])
    assert len(calls) == 1
    handler, calls = scripted(500)
    policy = RetryPolicy(retries=1, any_5xx=True)
    with (
        Client("http://rk", policy=policy, transport=httpx.MockTransport(handler)) as rk,
        pytest.raises(ServerResponseError, match=r"status 500 \(after 2 tries\)"),
    ):
        rk.score(["x"])
    assert len(calls) == 2


def _by_server(answers: dict[str, int]):
    """A MockTransport handler answering per host: a status, or 0 for a refused connection."""
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append((request.url.host, request.url.path))
        status = answers[request.url.host]
        if status == 0:
            raise httpx.ConnectError("refused", request=request)
        if status == 200:
            return httpx.Response(200, json=OK if request.url.path != "/health" else {"status": "ok"})
        detail = {"detail": f"{request.url.host} says {status}"}
        return httpx.Response(status, json=detail, headers={"Retry-After": "0"})

    return handler, calls


def test_several_servers_take_turns_and_a_failed_one_is_skipped():
    handler, calls = _by_server({"a": 200, "b": 200, "c": 0})
    with Client("http://a,http://b,http://c", transport=httpx.MockTransport(handler)) as rk:
        for _ in range(6):
            assert rk.score(["x"]) == [1.5]
    hosts = [host for host, _ in calls]
    assert hosts[:3] == ["a", "b", "c"] and hosts.count("c") == 1  # c failed once, then sat out its cool-down
    assert {"a", "b"} == set(hosts[3:])


def test_when_every_server_fails_the_call_ends_with_the_servers_own_error():
    handler, calls = _by_server({"a": 503, "b": 503})
    with (
        Client(["http://a", "http://b"], retries=2, transport=httpx.MockTransport(handler)) as rk,
        pytest.raises(ServerResponseError) as e,
    ):
        rk.score(["x"])
    assert e.value.status_code == 503 and "says 503" in str(e.value) and "after 3 tries" in str(e.value)
    assert len(calls) <= (2 + 1) * 2 * 2  # (retries + 1) x servers tries, each at most with a health probe


def test_a_caller_error_is_not_failed_over():
    handler, calls = _by_server({"a": 422, "b": 200})
    with Client("http://a,http://b", transport=httpx.MockTransport(handler)) as rk, pytest.raises(ServerResponseError):
        rk.score(["x"])
    assert calls == [("a", "/score")]
