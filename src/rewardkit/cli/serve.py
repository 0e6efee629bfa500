"""`rewardkit serve`: one model, or several (checkpoints or server URLs) as an ensemble, over HTTP.
Its flags are the fields of ModelConfig, EngineConfig, ServerConfig and EnsembleConfig."""

from __future__ import annotations

from typing import Any

import typer

from rewardkit.cli.common import CLI_ERRORS, fail
from rewardkit.cli.options import build_config, config_options
from rewardkit.config import EngineConfig, EnsembleConfig, ModelConfig, ServerConfig

__all__ = ["serve"]

MODELS_ARG = typer.Argument(
    None,
    help="One or more checkpoint folders, 'builtin' (the default), or URLs of running reward servers. "
    "Several form an ensemble combined by --ensemble.",
)


@config_options(ModelConfig, EngineConfig, ServerConfig, EnsembleConfig)
def serve(models: list[str] | None = MODELS_ARG, **options: Any) -> None:
    """Serve MODEL(s) over HTTP: POST /get_reward (OpenRLHF), /score (messages), /best_of_n, /compare,
    /rank, GET /health, /metrics, /info. Several models (or server URLs) are served as one ensemble."""
    from rewardkit.serving import build_from_sources, run_server
    from rewardkit.serving.app import is_url

    sources = models or ["builtin"]
    model_config = build_config(ModelConfig, options)
    engine_config = build_config(EngineConfig, options)
    server_config = build_config(ServerConfig, options)
    ensemble_config = build_config(EnsembleConfig, options)
    if len(sources) == 1 and not is_url(sources[0]) and ensemble_config != EnsembleConfig():
        typer.secho("warning: --ensemble/--uwo-lambda/--standardize apply to several models; ignored", err=True)
    if server_config.ray_replicas:
        from rewardkit.serving.ray import serve_on_ray

        try:
            serve_on_ray(sources, model_config, engine_config, server_config, ensemble_config)
        except CLI_ERRORS as exc:
            fail(exc)
        return
    try:
        application, what = build_from_sources(sources, model_config, engine_config, server_config, ensemble_config)
    except CLI_ERRORS as exc:
        fail(exc)
    typer.echo(f"rewardkit: {what}; http://{server_config.host}:{server_config.port}")
    run_server(application, server_config)
