"""RulePool: reward functions in worker processes. A rule that raises, hangs or kills its worker
fails only the item it was given, with a message naming the rule and the item; the pool goes on."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rewardkit.config import RewardsConfig
from rewardkit.errors import InvalidInputError, QueueFullError, RuleFailedError, TooManyItemsError
from rewardkit.rules import RulePool, samples_from

pytestmark = pytest.mark.anyio

RULES = """
import os, time

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


def hanging(mark: Path, workers: int, timeout: float = 30.0) -> None:
    """Wait until ``workers`` workers are inside the 'hang' rule."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if mark.is_file() and len(mark.read_text().splitlines()) >= workers:
            return
        time.sleep(0.01)
    raise AssertionError(f"{workers} workers were not inside the hanging rule within {timeout:.0f} s")


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
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.2)
    assert workers and not any(_alive(pid) for pid in workers)


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
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "State:\tZ" not in status


def test_a_bad_spec_fails_before_any_worker_starts(tmp_path):
    with pytest.raises(InvalidInputError, match="no file"):
        RulePool([str(tmp_path / "nope.py") + ":f"])
