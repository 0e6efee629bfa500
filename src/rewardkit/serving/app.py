"""create_app(service, config): the FastAPI app around any ScoringService (one RewardService, an
EnsembleService); build / build_ensemble wire loaded models and member URLs into one."""

from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from rewardkit.config import EnsembleConfig, RewardsConfig, ServerConfig
from rewardkit.errors import InvalidInputError
from rewardkit.scoring.ensemble import EnsembleService
from rewardkit.scoring.protocols import ScoringService
from rewardkit.scoring.remote import RemoteMember
from rewardkit.scoring.service import RewardService
from rewardkit.serving.errors import install_error_handlers
from rewardkit.serving.keys import ApiKeys
from rewardkit.serving.metrics import ServerMetrics
from rewardkit.serving.middleware import OPEN_PATHS, Drain, GuardMiddleware, Limits
from rewardkit.serving.rewards import NoModel, RewardParts
from rewardkit.serving.routes import router
from rewardkit.serving.tei_api import router as tei_router
from rewardkit.serving.ui import PAGE_PATHS, install_ui
from rewardkit.serving.vllm_api import router as vllm_router

__all__ = ["build", "build_ensemble", "build_from_sources", "create_app", "is_url"]


def create_app(
    service: ScoringService,
    config: ServerConfig | None = None,
    metrics: ServerMetrics | None = None,
    rewards: RewardParts | None = None,
    model_name: str = "rewardkit",
) -> FastAPI:
    """The app; its lifespan starts and stops the service's engine (start is idempotent) and the
    reward-function workers of ``rewards`` (rewardkit serve --reward-fn).

    ``metrics`` must be the observer the service's engine reports to, so pass the same object to
    both (``rewardkit.serving.build`` does). ``app.state.drain.begin()`` starts a graceful stop
    (`rewardkit serve` calls it on SIGTERM). ``model_name`` is what /v1/models shows unless
    --served-model-name says otherwise.
    """
    config = config or ServerConfig()
    metrics = metrics or ServerMetrics()
    keys = ApiKeys(_api_key(config), config.api_key_file)
    rewards = rewards or RewardParts(RewardsConfig(), has_model=not isinstance(service, NoModel))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        await asyncio.to_thread(rewards.start)
        try:
            await service.start()
            yield
            await service.stop()
        finally:
            rewards.close()

    app = FastAPI(title="rewardkit", summary="Reward-model scoring server", lifespan=lifespan)
    app.state.service = service
    app.state.metrics = metrics
    app.state.config = config
    app.state.rewards = rewards
    app.state.model_name = config.served_model_name or model_name
    app.state.drain = Drain()
    install_error_handlers(app)
    routers = (router, vllm_router, tei_router)
    for each in routers:
        app.include_router(each)
    ui_paths = PAGE_PATHS if config.ui else frozenset()
    app.add_middleware(
        GuardMiddleware,
        metrics=metrics,
        keys=keys,
        limits=Limits(config.max_request_bytes, config.body_timeout, config.request_timeout),
        drain=app.state.drain,
        saturated=service.saturated,
        routes=frozenset([*(r.path for each in routers for r in each.routes), app.openapi_url, app.docs_url, *ui_paths])
        - {None},
        open_paths=OPEN_PATHS | ui_paths,  # the page's files hold no data: the login form must load
    )
    if config.ui:
        install_ui(app)
    return app


SERVER_KEY_ENV = "REWARDKIT_SERVER_API_KEY"
"""The environment variable a server reads its key from (clients read REWARDKIT_API_KEY)."""


def _api_key(config: ServerConfig) -> str | None:
    """--api-key, else $REWARDKIT_SERVER_API_KEY, else none. Never $REWARDKIT_API_KEY: that is the key
    clients send, and a trainer's shell that exports it must not turn auth on in a server started there.
    An empty or blank key is refused: it usually means an unset shell variable, and would otherwise turn
    authentication off without a word."""
    for source, key in (("--api-key", config.api_key), (SERVER_KEY_ENV, os.environ.get(SERVER_KEY_ENV))):
        if key is not None:
            if not key.strip():
                raise InvalidInputError(f"{source} is empty; give a key, or leave it unset to serve without one")
            return key
    return None


def build(
    model: Any,
    model_config: Any = None,
    engine_config: Any = None,
    server_config: ServerConfig | None = None,
    rewards_config: RewardsConfig | None = None,
    model_name: str = "rewardkit",
) -> FastAPI:
    """A loaded model (None: reward functions alone) -> a ready app whose engine reports to the
    app's metrics, with the reward functions of ``rewards_config`` beside it."""
    metrics = ServerMetrics()
    service = NoModel() if model is None else RewardService(model, model_config, engine_config, observer=metrics)
    return create_app(service, server_config, metrics, _rewards(rewards_config, service, engine_config), model_name)


def _rewards(config: RewardsConfig | None, service: ScoringService, engine_config: Any) -> RewardParts:
    queue = getattr(engine_config, "max_queue", None) or 4096
    return RewardParts(config or RewardsConfig(), has_model=not isinstance(service, NoModel), max_pending=queue)


def build_ensemble(
    members: list[Any],
    names: list[str],
    model_config: Any = None,
    engine_config: Any = None,
    server_config: ServerConfig | None = None,
    ensemble_config: EnsembleConfig | None = None,
    rewards_config: RewardsConfig | None = None,
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
    service = EnsembleService(services, names, ensemble_config)
    rewards = _rewards(rewards_config, service, engine_config)
    return create_app(service, server_config, metrics, rewards, "rewardkit-ensemble")


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
    rewards_config: RewardsConfig | None = None,
) -> tuple[FastAPI, str]:
    """What `rewardkit serve` serves (and each Ray Serve replica): one checkpoint, or several
    checkpoints and server URLs as an ensemble, or no model (reward functions alone), with the
    reward functions of ``rewards_config`` beside it; returns the app and a line saying what it is."""
    from rewardkit.models import open_model
    from rewardkit.scoring.ensemble import member_names

    rewards_config = rewards_config or RewardsConfig()
    rules = f"; reward functions {', '.join(rewards_config.reward_fn)}" if rewards_config.reward_fn else ""
    if not sources:
        if not rewards_config.reward_fn:
            raise InvalidInputError("nothing to serve: give a MODEL, or reward functions with --reward-fn")
        return build(None, model_config, engine_config, server_config, rewards_config), f"no model{rules}"
    if len(sources) == 1 and not is_url(sources[0]):
        loaded = open_model(sources[0], model_config)
        info = loaded.info
        what = f"{info.format} {info.architecture} on {info.device} ({info.dtype}), max length {info.max_length}"
        app = build(loaded, model_config, engine_config, server_config, rewards_config, model_name=sources[0])
        return app, what + rules
    check_ensemble_sources(sources, ensemble_config)
    members = [s if is_url(s) else open_model(s, model_config) for s in sources]
    application = build_ensemble(
        members, member_names(sources), model_config, engine_config, server_config, ensemble_config, rewards_config
    )
    return application, f"an ensemble of {len(sources)} ({ensemble_config.ensemble}){rules}"
