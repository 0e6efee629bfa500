"""Prometheus metrics for one app: HTTP traffic plus engine events (it is the engine's observer).
The same counters are read back as JSON by ``summary`` (GET /metrics/summary, the /ui dashboard):
nothing is counted twice."""

from __future__ import annotations

import math
import time
from collections.abc import Collection
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["ServerMetrics"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.started = time.monotonic()
        r = self.registry
        self.requests = Counter(
            "rewardkit_requests", "HTTP requests by route and status.", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "rewardkit_request_latency_seconds",
            "Request latency by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter("rewardkit_errors", "Errors by kind.", ["kind"], registry=r)
        self.queue_depth = Gauge("rewardkit_queue_depth", "Sequences waiting for the model.", registry=r)
        self.batch_size = Histogram(
            "rewardkit_batch_size", "Sequences per forward pass.", buckets=BATCH_BUCKETS, registry=r
        )
        self.batch_seconds = Histogram(
            "rewardkit_batch_seconds", "Forward pass time per batch.", buckets=LATENCY_BUCKETS, registry=r
        )
        self.tokens = Counter(
            "rewardkit_batch_tokens",
            "Tokens through the model: real (the inputs' own), padded (real plus padding, the batch as laid out), "
            "cached (real tokens whose keys and values came from the prefix cache, not computed).",
            ["kind"],
            registry=r,
        )
        self.sequences = Counter("rewardkit_sequences_scored", "Sequences scored.", registry=r)
        self.truncated = Counter("rewardkit_truncated", "Inputs truncated to --max-length.", registry=r)

    # engine observer
    def on_batch(self, size: int, real_tokens: int, padded_tokens: int, seconds: float, cached_tokens: int = 0) -> None:
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)
        self.tokens.labels("real").inc(real_tokens)
        self.tokens.labels("padded").inc(padded_tokens)
        self.tokens.labels("cached").inc(cached_tokens)
        self.sequences.inc(size)

    def on_queue_depth(self, depth: int) -> None:
        self.queue_depth.set(depth)

    def on_error(self, kind: str) -> None:
        self.errors.labels(kind).inc()

    # http
    def on_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)
        if status >= 400:
            self.errors.labels(f"http_{status}").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def summary(self, scoring_routes: Collection[str]) -> dict[str, Any]:
        """Every counter as JSON, cumulative since the start (a reader takes differences between two
        reads for rates); histograms as cumulative bucket counts, as Prometheus keeps them.
        ``scoring_routes`` are the routes whose requests count as scoring traffic (the app's POST
        routes), so that dashboards polling /info or /metrics do not count as load."""
        samples = _samples(self.registry)
        by_route: dict[str, dict[str, int]] = {}
        for labels, value in samples.get("rewardkit_requests_total", []):
            by_route.setdefault(labels["route"], {})[labels["status"]] = int(value)
        latency = _histogram(
            samples, "rewardkit_request_latency_seconds", keep=lambda lb: lb["route"] in scoring_routes
        )
        tokens = {labels["kind"]: int(value) for labels, value in samples.get("rewardkit_batch_tokens_total", [])}
        batches = _histogram(samples, "rewardkit_batch_size")
        return {
            "uptime_s": time.monotonic() - self.started,
            "requests": {
                "scoring": sum(
                    sum(statuses.values()) for route, statuses in by_route.items() if route in scoring_routes
                ),
                "by_route": by_route,
            },
            "latency_seconds": latency,
            "sequences_scored": _total(samples, "rewardkit_sequences_scored_total"),
            "truncated": _total(samples, "rewardkit_truncated_total"),
            "tokens": {
                "real": tokens.get("real", 0),
                "computed": tokens.get("padded", 0),
                "cached": tokens.get("cached", 0),
            },
            "batches": {**batches, "seconds": _total(samples, "rewardkit_batch_seconds_sum", float)},
            "queue_depth": _total(samples, "rewardkit_queue_depth"),
            "errors": {labels["kind"]: int(value) for labels, value in samples.get("rewardkit_errors_total", [])},
        }


def _samples(registry: CollectorRegistry) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample of ``registry`` by its exposed name (``..._total``, ``..._bucket``, ``..._sum``)."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for metric in registry.collect():
        for sample in metric.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def _total(samples: dict, name: str, kind: type = int) -> Any:
    return kind(sum(value for _, value in samples.get(name, [])))


def _histogram(samples: dict, name: str, keep: Any = lambda labels: True) -> dict[str, Any]:
    """One histogram summed over the label sets ``keep`` accepts: ``buckets`` as [upper bound,
    cumulative count] pairs (the last bound is null for +Inf, which JSON cannot hold)."""
    cumulative: dict[float, float] = {}
    for labels, value in samples.get(f"{name}_bucket", []):
        if keep(labels):
            bound = float(labels["le"])
            cumulative[bound] = cumulative.get(bound, 0.0) + value
    return {
        "count": int(sum(value for labels, value in samples.get(f"{name}_count", []) if keep(labels))),
        "sum": float(sum(value for labels, value in samples.get(f"{name}_sum", []) if keep(labels))),
        "buckets": [[None if math.isinf(b) else b, int(cumulative[b])] for b in sorted(cumulative)],
    }
