"""The no-server limit: the same model over pre-tokenized, length-sorted batches in this process.

No HTTP, no queue, no tokenization in the timed part: only collation and forward passes, batched by
rewardkit's own offline planner (``plan_batches``: sorted by length, cut under a padded-token
budget). Whatever a server does, it cannot beat this on the same machine for the same set of
queries, so each server's queries/s is reported as a fraction of it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench_model import Scorer
from workloads import Workload

from rewardkit.engine.batcher import plan_batches

__all__ = ["LIMIT_BATCH_SIZE", "LIMIT_BATCH_TOKENS", "LimitResult", "measure_limit"]

LIMIT_BATCH_TOKENS = 4096
LIMIT_BATCH_SIZE = 64


@dataclass
class LimitResult:
    seconds: float
    real_tokens: int
    padded_tokens: int
    batches: int


def measure_limit(scorer: Scorer, workload: Workload) -> LimitResult:
    """Time the forward passes over every query of ``workload`` (tokenized before the clock starts)."""
    texts = [t for request in workload.requests for t in request]
    rows = [list(ids) for ids in scorer.tokenizer(texts)["input_ids"]]
    plan = plan_batches([len(r) for r in rows], LIMIT_BATCH_TOKENS, LIMIT_BATCH_SIZE)
    real = padded = 0
    started = time.perf_counter()
    for batch in plan:
        _, r, p = scorer.score_ids([rows[i] for i in batch])
        real += r
        padded += p
    return LimitResult(seconds=time.perf_counter() - started, real_tokens=real, padded_tokens=padded, batches=len(plan))
