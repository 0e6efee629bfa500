"""`rewardkit serve MODEL --ray-replicas 2` on a local Ray: OpenRLHF-style one-sample requests spread
over both replicas with the single-model scores, and a replica killed with SIGKILL under load costs
no request more than one retry; Ray brings a replacement up."""

from __future__ import annotations

import functools
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import tiny_models
from processes import start_server, stop_server
from waiting import wait_until

from rewardkit import RewardModel

pytest.importorskip("ray.serve")
pytestmark = pytest.mark.e2e
HEADER = "x-rewardkit-replica"


@functools.cache
def http() -> httpx.Client:
    """One client (a connection pool, shared by the threads): a client per request costs more than the request."""
    return httpx.Client(timeout=60)


def reward(url: str, text: str) -> tuple[float, str, int]:
    """One OpenRLHF-style request, retried on a failed connection or a 5xx: (reward, replica, attempts)."""
    for attempt in range(1, 6):
        try:
            answer = http().post(f"{url}/get_reward", json={"query": [text]})
        except httpx.TransportError:
            continue
        if answer.status_code < 500:
            assert answer.status_code == 200, answer.text
            return answer.json()["rewards"][0], answer.headers[HEADER], attempt
    raise AssertionError(f"no answer for {text[:30]!r} in 5 attempts")


def both_replicas_up(url: str, timeout: float = 240.0) -> None:
    """/health answers once one replica is up; on a fresh machine the second may still be importing
    and loading for a while, and Ray routes only to replicas that are up. Wait until both answer."""
    seen: set[str] = set()

    def both_answered() -> bool:
        with ThreadPoolExecutor(8) as pool:
            seen.update(pool.map(lambda i: reward(url, f"warm-up {i}")[1], range(8)))
        return len(seen) >= 2

    wait_until(both_answered, "both replicas answer", timeout=timeout)


@pytest.fixture(scope="module")
def replicas(llama_dir):
    proc, url = start_server(str(llama_dir), "--ray-replicas", "2", "--ray-cpus-per-replica", "1", ready_timeout=240)
    try:
        both_replicas_up(url)
    except BaseException:
        stop_server(proc)
        raise
    yield url
    http().close()
    http.cache_clear()
    stop_server(proc)
    assert proc.wait(timeout=60) is not None


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return [t[: 40 + 7 * i] for i, t in enumerate(tiny_models.hh_texts(48))]


def test_one_sample_requests_spread_over_both_replicas_with_single_server_scores(replicas, llama_dir, texts):
    expected = RewardModel.load(llama_dir).score(texts)
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda t: reward(replicas, t), texts))
    assert [a[0] for a in answers] == pytest.approx(expected, abs=1e-5)
    assert len({a[1] for a in answers}) == 2
    assert httpx.get(f"{replicas}/health").json() == {"status": "ok"}


def test_a_replica_killed_under_load_costs_no_request_more_than_a_retry(replicas, llama_dir, texts):
    expected = dict(zip(texts, RewardModel.load(llama_dir).score(texts)))
    victim = reward(replicas, texts[0])[1]
    results: list[tuple[str, float, str, int]] = []
    stop = threading.Event()

    def load() -> None:
        i = 0
        while not stop.is_set():
            text = texts[i % len(texts)]
            results.append((text, *reward(replicas, text)))
            i += 1

    def answered(n: int) -> None:
        wait_until(lambda: len(results) >= n, f"{n} answers under load", timeout=120)

    workers = [threading.Thread(target=load) for _ in range(8)]
    for w in workers:
        w.start()
    answered(2 * len(texts))  # under load: every worker has had answers
    os.kill(int(victim.rsplit(":", 1)[1]), signal.SIGKILL)  # the replica's own PID, from its answers
    answered(len(results) + 4 * len(texts))  # requests keep coming while the replica is dead and replaced
    stop.set()
    for w in workers:
        w.join(timeout=120)
    assert results and max(r[3] for r in results) <= 2
    assert [r[1] for r in results] == pytest.approx([expected[r[0]] for r in results], abs=1e-5)

    seen: set[str] = set()  # Ray replaces the dead replica: two replicas answer again

    def two_live_replicas_answer() -> bool:
        seen.update(reward(replicas, t)[1] for t in texts[:8])
        return len(seen - {victim}) == 2

    wait_until(two_live_replicas_answer, "a replacement replica answers beside the survivor", timeout=120)
