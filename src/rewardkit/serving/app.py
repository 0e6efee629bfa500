"""create_app(service, config): the FastAPI app around any ScoringService (one RewardService, an
EnsembleService); build / build_ensemble wire loaded models and member URLs into one."""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from rewardkit.config import EnsembleConfig, ServerConfig
from rewardkit.errors import InvalidInputError
from rewardkit.scoring.ensemble import EnsembleService
from rewardkit.scoring.protocols import ScoringService
from rewardkit.scoring.remote import RemoteMember
from rewardkit.scoring.service import RewardService
from rewardkit.serving.errors import install_error_handlers
from rewardkit.serving.keys import ApiKeys
from rewardkit.serving.metrics import ServerMetrics
from rewardkit.serving.middleware import Drain, GuardMiddleware, Limits
from rewardkit.serving.routes import router

__all__ = ["build", "build_ensemble", "build_from_sources", "create_app", "is_url"]


def create_app(
    service: ScoringService, config: ServerConfig | None = None, metrics: ServerMetrics | None = None
) -> FastAPI:
    """The app; its lifespan starts and stops the service's engine (start is idempotent).

    ``metrics`` must be the observer the service's engine reports to, so pass the same object to
    both (``rewardkit.serving.build`` does). ``app.state.drain.begin()`` starts a graceful stop
    (`rewardkit serve` calls it on SIGTERM).
    """
    config = config or ServerConfig()
    metrics = metrics or ServerMetrics()
    keys = ApiKeys(_api_key(config), config.api_key_file)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        await service.start()
        yield
        await service.stop()

    app = FastAPI(title="rewardkit", summary="Reward-model scoring server", lifespan=lifespan)
    app.state.service = service
    app.state.metrics = metrics
    app.state.config = config
    app.state.drain = Drain()
    install_error_handlers(app)
    app.include_router(router)
    app.add_middleware(
        GuardMiddleware,
        metrics=metrics,
        keys=keys,
        limits=Limits(config.max_request_bytes, config.body_timeout, config.request_timeout),
        drain=app.state.drain,
        saturated=service.saturated,
        routes=frozenset([*(route.path for route in router.routes), app.openapi_url, app.docs_url]) - {None},
    )
    return app


def _api_key(config: ServerConfig) -> str | None:
    """--api-key, else $REWARDKIT_API_KEY, else none. An empty or blank key is refused: it usually
    means an unset shell variable, and would otherwise turn authentication off without a word."""
    for source, key in (("--api-key", config.api_key), ("REWARDKIT_API_KEY", os.environ.get("REWARDKIT_API_KEY"))):
        if key is not None:
            if not key.strip():
                raise InvalidInputError(f"{source} is empty; give a key, or leave it unset to serve without one")
            return key
    return None


def build(
    model: Any, model_config: Any = None, engine_config: Any = None, server_config: ServerConfig | None = None
) -> FastAPI:
    """A loaded model -> a ready app whose engine reports to the app's metrics."""
    metrics = ServerMetrics()
    service = RewardService(model, model_config, engine_config, observer=metrics)
    return create_app(service, server_config, metrics)


def build_ensemble(
    members: list[Any],
    names: list[str],
    model_config: Any = None,
    engine_config: Any = None,
    server_config: ServerConfig | None = None,
    ensemble_config: EnsembleConfig | None = None,
) -> FastAPI:
    """Several members behind one app: loaded models get their own engine (all reporting to the
    app's metrics); URL strings become remote members, sent the same requests (their key comes
    from $REWARDKIT_MEMBER_API_KEY)."""
    metrics = ServerMetrics()
    services = [
        RemoteMember(member)
        if isinstance(member, str)
        else RewardService(member, model_config, engine_config, observer=metrics)
        for member in members
    ]
    return create_app(EnsembleService(services, names, ensemble_config), server_config, metrics)


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def check_ensemble_sources(sources: list[str], config: EnsembleConfig) -> None:
    """Fail before serving, not inside the server's startup: a bad reference set, a down member."""
    from rewardkit.client import Client
    from rewardkit.errors import MemberFailedError
    from rewardkit.scoring.ensemble import read_reference

    if config.standardize:
        read_reference(config.standardize)
    for url in filter(is_url, sources):
        with Client(url, api_key=os.environ.get("REWARDKIT_MEMBER_API_KEY"), timeout=10.0) as member:
            if not member.health():
                raise MemberFailedError(f"ensemble member {url} does not answer GET /health with 200")


def build_from_sources(
    sources: list[str],
    model_config: Any,
    engine_config: Any,
    server_config: ServerConfig,
    ensemble_config: EnsembleConfig,
) -> tuple[FastAPI, str]:
    """What `rewardkit serve` serves (and each Ray Serve replica): one checkpoint, or several
    checkpoints and server URLs as an ensemble; returns the app and a line saying what it is."""
    from rewardkit.models import open_model
    from rewardkit.scoring.ensemble import member_names

    if len(sources) == 1 and not is_url(sources[0]):
        loaded = open_model(sources[0], model_config)
        info = loaded.info
        what = f"{info.format} {info.architecture} on {info.device} ({info.dtype}), max length {info.max_length}"
        return build(loaded, model_config, engine_config, server_config), what
    check_ensemble_sources(sources, ensemble_config)
    members = [s if is_url(s) else open_model(s, model_config) for s in sources]
    application = build_ensemble(
        members, member_names(sources), model_config, engine_config, server_config, ensemble_config
    )
    return application, f"an ensemble of {len(sources)} ({ensemble_config.ensemble})"
