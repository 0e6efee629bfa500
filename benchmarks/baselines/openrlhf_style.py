"""Baseline (a): the OpenRLHF ``serve_rm`` recipe, written from its published description.

An ``async`` FastAPI handler reads ``{"query": [...]}`` and, inline, tokenizes and runs the model
over the request's queries in micro-batches of ``--batch-size`` taken in request order, each padded
to its longest query. Because the work happens on the event loop, the server handles one request at
a time: concurrent requests queue in the socket and never share a forward pass.

Run: ``python -m baselines.openrlhf_style MODEL_DIR --port P --dtype D`` with ``benchmarks/`` on
PYTHONPATH (the benchmark starts it that way).
"""

from __future__ import annotations

import time
from typing import Any

from bench_model import Scorer, load_scorer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from baselines.common import BatchStats, add_stats_routes, parse_args, serve

__all__ = ["create_app"]


def create_app(scorer: Scorer, batch_size: int) -> FastAPI:
    app = FastAPI(title="openrlhf-style reward server")
    stats = BatchStats()
    add_stats_routes(app, stats, {"micro_batch_size": batch_size, "concurrency": "one request at a time"})

    def get_reward(queries: list[str]) -> list[float]:
        rewards: list[float] = []
        for start in range(0, len(queries), batch_size):
            chunk = queries[start : start + batch_size]
            started = time.perf_counter()
            scores, real, padded = scorer.score_texts(chunk)
            stats.record(len(chunk), real, padded, time.perf_counter() - started)
            rewards.extend(scores)
        return rewards

    @app.post("/get_reward")
    async def get_reward_route(request: Request) -> JSONResponse:
        data: dict[str, Any] = await request.json()
        rewards = get_reward(data["query"])  # inline on the event loop, as the recipe does
        return JSONResponse({"rewards": rewards, "scores": rewards, "extra_logs": {"dummy_scores": rewards}})

    return app


def main() -> None:
    args = parse_args(
        "OpenRLHF-style reward server (inline forward, one request at a time).",
        "Micro-batch size within a request (OpenRLHF's --batch_size).",
        64,
    )
    serve(create_app(load_scorer(args.model_dir, args.dtype), args.batch_size), args.host, args.port)


if __name__ == "__main__":
    main()
