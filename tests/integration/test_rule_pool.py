"""RulePool: reward functions in worker processes. A rule that raises, hangs or kills its worker
fails only the item it was given, with a message naming the rule and the item; the pool goes on.
Replacement workers run the rule code read at start-up; when none can start, requests get a 503 at
once and /health says why, until one starts again."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from serving import serving_app
from waiting import wait_until, wait_until_async

from rewardkit.config import RewardsConfig
from rewardkit.errors import InvalidInputError, QueueFullError, RuleFailedError, TooManyItemsError
from rewardkit.rules import RulePool, samples_from
from rewardkit.serving import build

pytestmark = pytest.mark.anyio

RULES = """
import os, time

if os.path.exists(os.environ.get("RULES_BROKEN", "/nonexistent")):  # a worker that cannot start
    raise RuntimeError("this worker cannot start")

def version(response):
    return 1.0

def picky(response):
    if "hang" in response:
        if os.environ.get("HANG_MARK"):  # a line in this file says: a worker is inside the hang
            with open(os.environ["HANG_MARK"], "a") as mark:
                mark.write("in\\n")
        time.sleep(60)
    if "boom" in response:
        raise ZeroDivisionError("cannot score a boom")
    if "die" in response:
        os._exit(3)
    return float(len(response))

def batch(queries, prompts, labels):
    if any("crash" in q for q in queries):
        raise KeyError("boom")
    return {"rewards": [1.0] * len(queries), "extra_logs": {"n": [float(len(queries))] * len(queries)}}

def pid(response):
    return float(os.getpid())
"""


@pytest.fixture
def rules_file(tmp_path):
    path = tmp_path / "pool_rules.py"
    path.write_text(RULES)
    return path


@pytest.fixture
def hang_mark(tmp_path, monkeypatch) -> Path:
    """The file the 'hang' rule writes a line to as it starts hanging (workers inherit the environment)."""
    path = tmp_path / "hanging"
    monkeypatch.setenv("HANG_MARK", str(path))
    return path


def hanging(mark: Path, workers: int) -> None:
    """Wait until ``workers`` workers are inside the 'hang' rule."""
    wait_until(
        lambda: mark.is_file() and len(mark.read_text().splitlines()) >= workers,
        f"{workers} workers are inside the hanging rule",
    )


@pytest.fixture
def pool(rules_file):
    pool = RulePool([f"{rules_file}:picky", f"{rules_file}:batch", "math"], RewardsConfig(reward_fn_timeout=1.5))
    pool.start()
    yield pool
    pool.close()


async def test_every_rule_scores_every_item(pool):
    out = await pool.score(samples_from(["P: 4", "P: 5"], ["P:", "P:"], ["4", "4"]))
    assert out["picky"].rewards == [2.0, 2.0]
    assert out["batch"].rewards == [1.0, 1.0] and out["batch"].extra_logs == {"batch/n": [2.0, 2.0]}
    assert out["math"].rewards == [1.0, 0.0]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("boom", "ZeroDivisionError: cannot score a boom"),
        ("hang", "ran past --reward-fn-timeout"),
        ("die", "worker process died"),
    ],
)
async def test_a_failing_item_names_rule_and_item_and_the_pool_goes_on(pool, text, why):
    with pytest.raises(RuleFailedError, match=f"'picky' failed on item 1: .*{why}"):
        await pool.score(samples_from(["fine", f"{text}!", "fine"], None, ["1"] * 3))
    again = await pool.score(samples_from(["fine", "also fine"], None, ["1", "1"]))
    assert again["picky"].rewards == [4.0, 9.0]


async def test_a_batch_rule_failure_names_the_request(pool):
    with pytest.raises(RuleFailedError, match="'batch' failed on the request: KeyError"):
        await pool.score(samples_from(["crash"], None, ["1"]))


async def test_calls_are_spread_over_the_workers(rules_file):
    pool = RulePool([f"{rules_file}:pid"], RewardsConfig(reward_fn_workers=2))
    pool.start()
    try:
        seen = set()
        for _ in range(5):
            out = await asyncio.gather(*(pool.score(samples_from(["x"] * 8, None, None)) for _ in range(4)))
            seen.update(v for o in out for v in o["pid"].rewards)
    finally:
        pool.close()
    assert len(seen) == 2


async def test_a_request_the_pool_can_never_queue_is_413_and_a_full_pool_is_503(rules_file, hang_mark):
    pool = RulePool([f"{rules_file}:picky"], RewardsConfig(reward_fn_timeout=2), max_pending=3)
    pool.start()
    try:
        with pytest.raises(TooManyItemsError, match="split the request"):
            await pool.score(samples_from(["a"] * 4, None, None))
        stalled = asyncio.ensure_future(pool.score(samples_from(["hang", "a"], None, None)))
        await asyncio.to_thread(hanging, hang_mark, 1)
        with pytest.raises(QueueFullError, match="retry"):
            await pool.score(samples_from(["a", "a"], None, None))
        with pytest.raises(RuleFailedError):
            await stalled
        assert (await pool.score(samples_from(["a"] * 3, None, None)))["picky"].rewards == [1.0] * 3
    finally:
        pool.close()


async def test_math_without_labels_is_refused_before_any_work(pool):
    with pytest.raises(InvalidInputError, match="send one gold answer per query"):
        pool.labels_needed(None, 2)
    with pytest.raises(InvalidInputError, match=r"labels\.1: .*got dict"):
        pool.labels_needed(["72", {"answer": 72}], 2)


def test_workers_do_not_outlive_a_killed_server(rules_file, tmp_path, hang_mark):
    """A server SIGKILLed while a rule hangs cannot close the workers' pipes: they end by themselves."""
    script = tmp_path / "server.py"
    script.write_text(
        "import asyncio, os, sys\n"
        "from rewardkit.config import RewardsConfig\n"
        "from rewardkit.rules import RulePool, samples_from\n"
        f"pool = RulePool([{str(rules_file) + ':picky'!r}], RewardsConfig(reward_fn_timeout=60))\n"
        "pool.start()\n"
        "print('ready', flush=True)\n"
        "asyncio.run(pool.score(samples_from(['hang', 'hang'], None, None)))\n"
    )
    server = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert server.stdout.readline().strip() == "ready"
    hanging(hang_mark, 2)
    workers = _children(server.pid)
    server.kill()
    server.wait()
    assert workers
    wait_until(lambda: not any(_alive(pid) for pid in workers), "the workers of a killed server have ended")


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    """False once the process is gone, or a zombie whose threads have all ended: only then can its
    parent reap it (a killed process's main thread turns zombie while its other threads still exit)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        threads = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "State:\tZ" not in status or len(threads) > 1


def test_a_bad_spec_fails_before_any_worker_starts(tmp_path):
    with pytest.raises(InvalidInputError, match="no file"):
        RulePool([str(tmp_path / "nope.py") + ":f"])


def killed(pid: int) -> None:
    """SIGKILL a worker and wait until it is dead (a zombie until the pool reaps it)."""
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not _alive(pid), f"worker {pid} is dead")


async def test_a_replacement_worker_runs_the_rule_code_read_at_start_up(rules_file):
    pool = RulePool([f"{rules_file}:pid", f"{rules_file}:version"], RewardsConfig(reward_fn_workers=1))
    pool.start()
    try:
        before = await pool.score(samples_from(["x"], None, None))
        rules_file.write_text(RULES.replace("return 1.0", "return 2.0"))  # edited during the run
        killed(int(before["pid"].rewards[0]))
        after = await pool.score(samples_from(["x"], None, None))
    finally:
        pool.close()
    assert after["pid"].rewards != before["pid"].rewards  # a replacement answered...
    assert before["version"].rewards == after["version"].rewards == [1.0]  # ...with the code read at start-up
    pinned = hashlib.sha256(RULES.encode()).hexdigest()
    assert [rule["sha256"] for rule in pool.describe()] == [pinned, pinned]


async def test_when_no_worker_can_start_requests_get_503_at_once_and_health_says_why(rules_file, tmp_path, monkeypatch):
    broken = tmp_path / "broken"
    monkeypatch.setenv("RULES_BROKEN", str(broken))
    config = RewardsConfig(reward_fn=[f"{rules_file}:pid"], reward_fn_workers=1)
    async with serving_app(build(None, rewards_config=config)) as client:
        first = await client.post("/get_reward", json={"query": ["x"]})
        info = (await client.get("/info")).json()["reward_functions"]["rules"][0]
        broken.touch()  # from now on no worker can start
        killed(int(first.json()["rewards"][0]))
        refused = [await client.post("/get_reward", json={"query": ["x"]}) for _ in range(2)]
        health = await client.get("/health")
        broken.unlink()  # the next try in the background starts one
        healthy = await wait_until_async(
            lambda: _ok(client.get("/health")), "/health answers 200 once a worker starts again", timeout=60
        )
        again = await client.post("/get_reward", json={"query": ["x"]})
    assert first.status_code == 200 and info["sha256"] == hashlib.sha256(RULES.encode()).hexdigest()
    assert [r.status_code for r in refused] == [503, 503]
    assert all(r.json()["error"] == "RulesUnavailableError" and int(r.headers["retry-after"]) >= 1 for r in refused)
    assert "this worker cannot start" in refused[0].json()["detail"]
    assert health.status_code == 503 and "no reward-function worker can run" in health.json()["reason"]
    assert healthy.json() == {"status": "ok"}
    assert again.status_code == 200 and again.json()["rewards"] != first.json()["rewards"]


async def _ok(request):
    response = await request
    return response if response.status_code == 200 else None
