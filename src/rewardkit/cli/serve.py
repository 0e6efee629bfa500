"""`rewardkit serve`: one model, or several (checkpoints or server URLs) as an ensemble, over HTTP.
Its flags are the fields of ModelConfig, EngineConfig, ServerConfig and EnsembleConfig."""

from __future__ import annotations

from typing import Any

import typer

from rewardkit.cli.common import CLI_ERRORS, fail
from rewardkit.cli.options import build_config, config_options
from rewardkit.config import EngineConfig, EnsembleConfig, ModelConfig, ServerConfig
from rewardkit.errors import MemberFailedError

__all__ = ["serve"]

MODELS_ARG = typer.Argument(
    None,
    help="One or more checkpoint folders, 'builtin' (the default), or URLs of running reward servers. "
    "Several form an ensemble combined by --ensemble.",
)


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def check_ensemble_sources(sources: list[str], config: EnsembleConfig) -> None:
    """Fail before serving, not inside the server's startup: a bad reference set, a down member."""
    import os

    from rewardkit.client import Client
    from rewardkit.scoring.ensemble import read_reference

    if config.standardize:
        read_reference(config.standardize)
    for url in filter(is_url, sources):
        with Client(url, api_key=os.environ.get("REWARDKIT_MEMBER_API_KEY"), timeout=10.0) as member:
            if not member.health():
                raise MemberFailedError(f"ensemble member {url} does not answer GET /health with 200")


@config_options(ModelConfig, EngineConfig, ServerConfig, EnsembleConfig)
def serve(models: list[str] | None = MODELS_ARG, **options: Any) -> None:
    """Serve MODEL(s) over HTTP: POST /get_reward (OpenRLHF), /score (messages), /best_of_n, /compare,
    /rank, GET /health, /metrics, /info. Several models (or server URLs) are served as one ensemble."""
    from rewardkit.models import open_model
    from rewardkit.scoring.ensemble import member_names
    from rewardkit.serving import build, build_ensemble, run_server

    sources = models or ["builtin"]
    model_config = build_config(ModelConfig, options)
    engine_config = build_config(EngineConfig, options)
    server_config = build_config(ServerConfig, options)
    try:
        if len(sources) == 1 and not is_url(sources[0]):
            if build_config(EnsembleConfig, options) != EnsembleConfig():
                typer.secho("warning: --ensemble/--uwo-lambda/--standardize apply to several models; ignored", err=True)
            loaded = open_model(sources[0], model_config)
            application = build(loaded, model_config, engine_config, server_config)
            info = loaded.info
            what = f"{info.format} {info.architecture} on {info.device} ({info.dtype}), max length {info.max_length}"
        else:
            ensemble_config = build_config(EnsembleConfig, options)
            check_ensemble_sources(sources, ensemble_config)
            members = [s if is_url(s) else open_model(s, model_config) for s in sources]
            application = build_ensemble(
                members, member_names(sources), model_config, engine_config, server_config, ensemble_config
            )
            what = f"an ensemble of {len(sources)} ({ensemble_config.ensemble})"
    except CLI_ERRORS as exc:
        fail(exc)
    typer.echo(f"rewardkit: {what}; http://{server_config.host}:{server_config.port}")
    run_server(application, server_config)
