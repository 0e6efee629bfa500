"""What both baseline apps share: their command line, a padding counter, /health and /stats, and uvicorn.

Neither published recipe reports padding, so each baseline counts the real and padded tokens of the
batches it formed and serves the totals at ``GET /stats``; the benchmark reads them before and after
a workload, as it reads rewardkit's Prometheus counters.
"""

from __future__ import annotations

import argparse
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI

__all__ = ["BatchStats", "add_stats_routes", "parse_args", "serve"]


@dataclass
class BatchStats:
    """Totals over every forward pass (tokenization included in its seconds); thread-safe."""

    batches: int = 0
    sequences: int = 0
    real_tokens: int = 0
    padded_tokens: int = 0
    forward_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, sequences: int, real: int, padded: int, seconds: float) -> None:
        with self._lock:
            self.forward_seconds += seconds
            self.batches += 1
            self.sequences += sequences
            self.real_tokens += real
            self.padded_tokens += padded

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {
                "batches": self.batches,
                "sequences": self.sequences,
                "real_tokens": self.real_tokens,
                "padded_tokens": self.padded_tokens,
                "forward_seconds": self.forward_seconds,
            }


def add_stats_routes(app: FastAPI, stats: BatchStats, settings: dict[str, Any]) -> None:
    """/health, and /stats: the batch totals plus the recipe's settings (so a run can show what it measured)."""
    import torch

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/stats")
    async def get_stats() -> dict[str, Any]:
        return {**stats.snapshot(), "settings": settings, "torch_threads": torch.get_num_threads()}


def parse_args(description: str, batch_size_help: str, default_batch_size: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--batch-size", type=int, default=default_batch_size, help=batch_size_help)
    return parser.parse_args()


def serve(app: FastAPI, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
