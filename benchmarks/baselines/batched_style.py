"""Baseline (b): the blog recipe, dynamic batching with mixedbread's ``batched`` library.

The scoring function takes a list of texts and is wrapped with ``batched.aio.dynamically``
(batch_size 8, timeout 100 ms). Every query of every request goes into the library's queue; its
background task takes up to 8 queued queries at a time (in arrival order, waiting up to the timeout
when fewer are queued) and calls the function, which pads them to the longest of the 8 and runs the
model. The function is synchronous, so the library runs it in a worker thread and the event loop
keeps accepting requests meanwhile.

Run: ``python -m baselines.batched_style MODEL_DIR --port P --dtype D`` with ``benchmarks/`` on
PYTHONPATH (the benchmark starts it that way).
"""

from __future__ import annotations

import time
from typing import Any

import batched
from bench_model import Scorer, load_scorer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from baselines.common import BatchStats, add_stats_routes, parse_args, serve

__all__ = ["BATCH_SIZE", "TIMEOUT_MS", "create_app"]

BATCH_SIZE = 8
TIMEOUT_MS = 100.0


def create_app(scorer: Scorer, batch_size: int, timeout_ms: float = TIMEOUT_MS) -> FastAPI:
    app = FastAPI(title="batched-style reward server")
    stats = BatchStats()
    add_stats_routes(app, stats, {"batch_size": batch_size, "timeout_ms": timeout_ms})

    @batched.aio.dynamically(batch_size=batch_size, timeout_ms=timeout_ms)
    def score_batch(texts: list[str]) -> list[float]:
        started = time.perf_counter()
        scores, real, padded = scorer.score_texts(texts)
        stats.record(len(texts), real, padded, time.perf_counter() - started)
        return scores

    @app.post("/get_reward")
    async def get_reward(request: Request) -> JSONResponse:
        data: dict[str, Any] = await request.json()
        rewards = await score_batch(list(data["query"]))
        return JSONResponse({"rewards": rewards, "scores": rewards, "extra_logs": {}})

    return app


def main() -> None:
    args = parse_args(
        "batched-style reward server (mixedbread `batched`, dynamic batches).",
        "Most queries per forward pass (the recipe's batch_size).",
        BATCH_SIZE,
    )
    serve(create_app(load_scorer(args.model_dir, args.dtype), args.batch_size), args.host, args.port)


if __name__ == "__main__":
    main()
