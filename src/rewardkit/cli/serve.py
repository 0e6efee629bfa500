"""`rewardkit serve`: one model, or several (checkpoints or server URLs) as an ensemble, over HTTP.
Its flags are the fields of ModelConfig, EngineConfig, ServerConfig and EnsembleConfig."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import typer

from rewardkit.cli.common import CLI_ERRORS, fail
from rewardkit.cli.options import build_config, config_options
from rewardkit.config import EngineConfig, EnsembleConfig, ModelConfig, RewardsConfig, ServerConfig

__all__ = ["serve"]

MODELS_ARG = typer.Argument(
    None,
    metavar="MODEL",
    help="One or more checkpoint folders, 'builtin' (the default), or URLs of running reward servers. "
    "Several form an ensemble combined by --ensemble. None with --reward-fn: the reward functions alone.",
)


@config_options(ModelConfig, EngineConfig, ServerConfig, EnsembleConfig, RewardsConfig)
def serve(models: list[str] | None = MODELS_ARG, **options: Any) -> None:
    """Serve MODEL(s) over HTTP: POST /get_reward (OpenRLHF), /score (messages), /best_of_n, /compare,
    /rank; vLLM's /classify, /pooling, /score, /rerank, /v1/models; TEI's /predict, /rerank; GET
    /health, /metrics, /info. Several models (or server URLs) are served as one ensemble. --reward-fn
    adds verifiable rewards (math answers, format, length, your own functions) to /get_reward."""
    from rewardkit.serving import build_from_sources, run_server
    from rewardkit.serving.app import is_url

    rewards_config = build_config(RewardsConfig, options)
    sources = models or ([] if rewards_config.reward_fn else ["builtin"])
    model_config = build_config(ModelConfig, options)
    engine_config = build_config(EngineConfig, options)
    if engine_config.forward_process is None:  # a server's default on CPU (in-process use leaves it off)
        engine_config = replace(engine_config, forward_process=True)
    server_config = build_config(ServerConfig, options)
    ensemble_config = build_config(EnsembleConfig, options)
    if len(sources) <= 1 and not any(map(is_url, sources)) and ensemble_config != EnsembleConfig():
        typer.secho("warning: --ensemble/--uwo-lambda/--standardize apply to several models; ignored", err=True)
    if server_config.ray_replicas:
        from rewardkit.serving.ray import serve_on_ray

        try:
            serve_on_ray(sources, model_config, engine_config, server_config, ensemble_config, rewards_config)
        except CLI_ERRORS as exc:
            fail(exc)
        return
    try:
        application, what = build_from_sources(
            sources, model_config, engine_config, server_config, ensemble_config, rewards_config
        )
    except CLI_ERRORS as exc:
        fail(exc)
    url = f"http://{server_config.host}:{server_config.port}"
    typer.echo(f"rewardkit: {what}; {url}")
    if server_config.ui:
        typer.echo(f"rewardkit: playground and dashboard at {url}/ui")
    status = run_server(application, server_config)
    if status:  # a fatal engine error stopped it: a supervisor should start a fresh server
        raise typer.Exit(status)
