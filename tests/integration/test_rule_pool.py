"""RulePool: reward functions in worker processes. A rule that raises, hangs or kills its worker
fails only the item it was given, with a message naming the rule and the item; the pool goes on."""

from __future__ import annotations

import asyncio

import pytest

from rewardkit.config import RewardsConfig
from rewardkit.errors import InvalidInputError, QueueFullError, RuleFailedError
from rewardkit.rules import RulePool, samples_from

pytestmark = pytest.mark.anyio

RULES = """
import os, time

def picky(response):
    if "hang" in response:
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


async def test_too_many_waiting_calls_are_refused_with_retry(rules_file):
    pool = RulePool([f"{rules_file}:picky"], RewardsConfig(), max_pending=3)
    pool.start()
    try:
        with pytest.raises(QueueFullError, match="retry"):
            await pool.score(samples_from(["a"] * 4, None, None))
        assert (await pool.score(samples_from(["a"] * 3, None, None)))["picky"].rewards == [1.0] * 3
    finally:
        pool.close()


def test_a_bad_spec_fails_before_any_worker_starts(tmp_path):
    with pytest.raises(InvalidInputError, match="no file"):
        RulePool([str(tmp_path / "nope.py") + ":f"])
