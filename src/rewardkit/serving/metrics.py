"""Prometheus metrics for one app: HTTP traffic plus engine events (it is the engine's observer)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["ServerMetrics"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
            "rewardkit_batch_tokens", "Tokens through the model: real vs padded.", ["kind"], registry=r
        )
        self.sequences = Counter("rewardkit_sequences_scored", "Sequences scored.", registry=r)
        self.truncated = Counter("rewardkit_truncated", "Inputs truncated to --max-length.", registry=r)

    # engine observer
    def on_batch(self, size: int, real_tokens: int, padded_tokens: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)
        self.tokens.labels("real").inc(real_tokens)
        self.tokens.labels("padded").inc(padded_tokens)
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
