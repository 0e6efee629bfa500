"""`rewardkit serve MODEL --ray-replicas N`: N replicas of the scoring server behind one HTTP endpoint,
on Ray Serve.

Each replica is the app `rewardkit serve` runs (same routes, auth, limits, /health), built inside a
Ray actor from the same settings: its own model copy, engine and dynamic batching. Ray Serve's proxy
spreads requests over the replicas and the controller replaces a replica that dies, or whose
``check_health`` raises: it does once the replica's engine has died of a fatal error (a broken CUDA
context), which no request can fix. Every answer carries ``X-Rewardkit-Replica`` (host:pid) so a
client or an operator can tell replicas apart.

The same application for ``serve run`` or a Ray Serve config file: ``rewardkit.serving.ray:app_builder``
takes the `rewardkit serve` flags as a dict (``{"model": ..., "ray_replicas": 2, "max_batch_tokens": ...}``).
"""

from __future__ import annotations

import os
import signal
import socket
import time
from typing import Any

from rewardkit.config import EngineConfig, EnsembleConfig, ModelConfig, RewardsConfig, ServerConfig
from rewardkit.errors import RewardKitError

__all__ = ["REPLICA_HEADER", "RewardkitReplica", "app_builder", "application", "serve_on_ray"]

REPLICA_HEADER = "x-rewardkit-replica"
DEPLOYMENT = "rewardkit"


class _ReplicaHeader:
    """ASGI wrapper that names the replica on every HTTP answer."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.name = f"{socket.gethostname()}:{os.getpid()}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def named(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (REPLICA_HEADER.encode(), self.name)]}
            await send(message)

        return await self.app(scope, receive, named)


class RewardkitReplica:
    """One replica: the app of ``sources`` built inside the Ray actor (serve.ingress wraps this class
    in ``_replica_class``), and the health check Ray Serve calls every ``health_check_period_s``."""

    def __init__(self, sources: list[str], configs: tuple[Any, Any, Any, Any, Any]) -> None:
        self.sources, self.configs = sources, configs
        self.served: Any = None
        """The FastAPI app once built (its ``state.service`` is what check_health asks)."""

    def __serve_build_asgi_app__(self) -> Any:
        from rewardkit.serving.app import build_from_sources

        self.served, _ = build_from_sources(self.sources, *self.configs)
        return _ReplicaHeader(self.served)

    def check_health(self) -> None:
        """Raise once the engine is broken for good, so that Ray replaces this replica (a replica that is
        busy, draining, or whose remote member is down is not replaced: those pass)."""
        reason = None if self.served is None else self.served.state.service.broken
        if reason is not None:
            raise RuntimeError(f"rewardkit replica {os.getpid()} cannot serve again: {reason}")


def _replica_class() -> Any:
    from ray import serve

    return serve.ingress()(RewardkitReplica)


def application(
    sources: list[str],
    model_config: ModelConfig,
    engine_config: EngineConfig,
    server_config: ServerConfig,
    ensemble_config: EnsembleConfig,
    rewards_config: RewardsConfig | None = None,
) -> Any:
    """The Ray Serve application: ``server_config.ray_replicas`` replicas of the server for ``sources``."""
    from ray import serve

    replicas = max(1, server_config.ray_replicas)
    deployment = serve.deployment(
        _replica_class(),
        name=DEPLOYMENT,
        num_replicas=replicas,
        ray_actor_options={
            "num_cpus": server_config.ray_cpus_per_replica,
            "num_gpus": server_config.ray_gpus_per_replica,
        },
        max_ongoing_requests=max(64, engine_config.max_queue),
        health_check_period_s=2,
        health_check_timeout_s=30,
    )
    configs = (model_config, engine_config, server_config, ensemble_config, rewards_config or RewardsConfig())
    return deployment.bind(sources, configs)


def app_builder(args: dict[str, Any]) -> Any:
    """``serve run rewardkit.serving.ray:app_builder model=builtin ray_replicas=2``: the flags of
    `rewardkit serve` (underscored) as a dict; ``model`` may be a list for an ensemble."""
    from dataclasses import fields

    def pick(kind: type) -> Any:
        names = {f.name for f in fields(kind)}
        return kind(**{k: v for k, v in args.items() if k in names})

    sources = args.get("model", "builtin")
    sources = [sources] if isinstance(sources, str) else list(sources)
    configs = (pick(ModelConfig), pick(EngineConfig), pick(ServerConfig), pick(EnsembleConfig), pick(RewardsConfig))
    return application(sources, *configs)


def serve_on_ray(
    sources: list[str],
    model_config: ModelConfig,
    engine_config: EngineConfig,
    server_config: ServerConfig,
    ensemble_config: EnsembleConfig,
    rewards_config: RewardsConfig | None = None,
) -> None:
    """Start the replicas on ``RAY_ADDRESS`` (else a local Ray) with Serve's HTTP proxy on
    --host/--port, and keep serving until SIGTERM or Ctrl-C, then shut Serve (and a local Ray) down."""
    try:
        import ray
        from ray import serve
    except ImportError:
        raise RewardKitError("--ray-replicas needs Ray Serve: pip install 'rewardkit[ray]'") from None
    app = application(sources, model_config, engine_config, server_config, ensemble_config, rewards_config)
    ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False)
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        serve.start(http_options={"host": server_config.host, "port": server_config.port})
        serve.run(app, name=DEPLOYMENT, route_prefix="/")
        print(
            f"rewardkit: {server_config.ray_replicas} replicas on Ray Serve; "
            f"http://{server_config.host}:{server_config.port}",
            flush=True,
        )
        while not stopping:
            time.sleep(0.2)
    finally:
        serve.shutdown()
        ray.shutdown()
