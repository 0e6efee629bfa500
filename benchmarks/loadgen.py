"""Closed-loop HTTP load: N workers, each sending its next request as soon as the previous one returns.

Closed loop (rather than a fixed arrival rate) is how RL trainers and best-of-n samplers call a
reward server: a fixed number of rollout workers, each waiting for its scores. Every request is
checked (HTTP 200, one reward per query); failures are counted, never retried, and reported.

Two protocols, the same texts in either: ``get_reward`` (OpenRLHF's ``POST /get_reward`` with
``{"query": [text, ...]}``, answered ``{"rewards": [...]}``), spoken by rewardkit and the two recipes;
and ``classify`` (vLLM's ``POST /classify`` with ``{"input": [text, ...], "use_activation": false}``,
answered ``{"data": [{"index", "label", "probs", "num_classes"}, ...], "usage": {"prompt_tokens", ...}}``;
``use_activation: false`` returns the raw logit, not its sigmoid), spoken by rewardkit and vLLM. In
both the texts go as they are: tokenized with the model's tokenizer and its default special tokens
(``add_special_tokens`` is left at vLLM's default, true), no eos appended by either server.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from workloads import Workload

__all__ = ["PROTOCOLS", "LoadResult", "read_scores", "read_tokens", "request", "run_load", "summarize_latencies"]

PROTOCOLS = ("get_reward", "classify")


def request(protocol: str, texts: list[str]) -> tuple[str, dict[str, Any]]:
    """(path, JSON body) asking for the scores of ``texts``."""
    if protocol == "classify":
        return "/classify", {"input": texts, "use_activation": False}
    return "/get_reward", {"query": texts}


def read_scores(protocol: str, answer: dict[str, Any]) -> list[float]:
    """The scores in an answer, in the order of the texts sent (a classifier's last class for /classify)."""
    if protocol == "classify":
        return [item["probs"][-1] for item in sorted(answer["data"], key=lambda item: item["index"])]
    return list(answer["rewards"])


def read_tokens(protocol: str, answer: dict[str, Any]) -> int | None:
    """The prompt tokens the server says it scored (``usage.prompt_tokens`` of /classify; None otherwise)."""
    if protocol == "classify":
        return (answer.get("usage") or {}).get("prompt_tokens")
    return None


@dataclass
class LoadResult:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    errors: list[str] = field(default_factory=list)


async def _worker(
    client: httpx.AsyncClient, protocol: str, queue: asyncio.Queue[list[str]], result: LoadResult
) -> None:
    while True:
        try:
            queries = queue.get_nowait()
        except asyncio.QueueEmpty:
            return
        url, body = request(protocol, queries)
        started = time.perf_counter()
        try:
            response = await client.post(url, json=body)
            elapsed = time.perf_counter() - started
            ok = response.status_code == 200 and len(read_scores(protocol, response.json())) == len(queries)
            if not ok:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
            result.latencies.append(elapsed)
        except Exception as exc:  # any failure counts against the server; keep going
            result.failures += 1
            if len(result.errors) < 5:
                result.errors.append(f"{type(exc).__name__}: {exc}")


async def _run(base_url: str, workload: Workload, timeout_s: float, protocol: str) -> LoadResult:
    queue: asyncio.Queue[list[str]] = asyncio.Queue()
    for request in workload.requests:
        queue.put_nowait(request)
    limits = httpx.Limits(max_connections=workload.concurrency + 4, max_keepalive_connections=workload.concurrency + 4)
    result = LoadResult(seconds=0.0)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout_s) as client:
        started = time.perf_counter()
        await asyncio.gather(*(_worker(client, protocol, queue, result) for _ in range(workload.concurrency)))
        result.seconds = time.perf_counter() - started
    return result


def run_load(base_url: str, workload: Workload, timeout_s: float = 1800.0, protocol: str = "get_reward") -> LoadResult:
    """Send every request of ``workload`` with ``workload.concurrency`` workers; wall time and latencies."""
    return asyncio.run(_run(base_url, workload, timeout_s, protocol))


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), without needing numpy for a few hundred values."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    position = (len(sorted_values) - 1) * q
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def summarize_latencies(latencies: list[float]) -> dict[str, Any]:
    if not latencies:
        return {"mean_s": None, "p50_s": None, "p99_s": None}
    ordered = sorted(latencies)
    return {
        "mean_s": statistics.fmean(ordered),
        "p50_s": _percentile(ordered, 0.50),
        "p99_s": _percentile(ordered, 0.99),
    }
