"""`rewardkit` command line: serve | score | info | bon | eval | train."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import typer

from rewardkit.cli_bon import bon_app
from rewardkit.cli_common import CLI_ERRORS, fail
from rewardkit.cli_eval import eval_app
from rewardkit.cli_options import build_config, config_options
from rewardkit.cli_train import train
from rewardkit.config import EngineConfig, EnsembleConfig, ModelConfig, ServerConfig
from rewardkit.errors import MemberFailedError, RewardKitError

__all__ = ["app", "main"]

app = typer.Typer(
    help="Serve, run and evaluate reward models. MODEL is a checkpoint folder, or 'builtin'.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.add_typer(bon_app, name="bon")
app.add_typer(eval_app, name="eval")
app.command("train")(train)

MODEL_ARG = typer.Argument("builtin", help="Checkpoint folder, or 'builtin' for the bundled model.")


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


@app.command()
@config_options(ModelConfig, EngineConfig, ServerConfig, EnsembleConfig)
def serve(models: list[str] | None = MODELS_ARG, **options: Any) -> None:
    """Serve MODEL(s) over HTTP: POST /get_reward (OpenRLHF), /score (messages), /best_of_n, /compare,
    /rank, GET /health, /metrics, /info. Several models (or server URLs) are served as one ensemble."""
    import uvicorn

    from rewardkit.models import open_model
    from rewardkit.scoring.ensemble import member_names
    from rewardkit.serving import build, build_ensemble

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
    uvicorn.run(
        application,
        host=server_config.host,
        port=server_config.port,
        log_level=server_config.log_level,
        access_log=False,
    )


@app.command()
@config_options(ModelConfig)
def score(
    model: str = typer.Argument(..., help="Checkpoint folder, or 'builtin'."),
    input_path: Path = typer.Argument(..., metavar="INPUT.jsonl", help="One {'text'|'query'|'messages'} per line."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the rows with a 'score' added."),
    max_batch_tokens: int = typer.Option(4096, help="Most padded tokens per forward pass."),
    **options: Any,
) -> None:
    """Score a JSONL file offline, in order, with a progress bar."""
    from rewardkit.scoring.bulk import score_file
    from rewardkit.scoring.model import RewardModel

    config = build_config(ModelConfig, options)
    try:
        reward_model = RewardModel.open(model, config, max_batch_tokens=max_batch_tokens)
        count = score_file(reward_model, input_path, output)
    except (RewardKitError, OSError) as exc:
        fail(exc)
    typer.echo(f"scored {count} rows -> {output}")


@app.command()
@config_options(ModelConfig)
def info(
    model: str = MODEL_ARG, as_json: bool = typer.Option(False, "--json", help="Print JSON."), **options: Any
) -> None:
    """Load MODEL and print what was detected: format, head, pooling, tokens, template, normalization."""
    from rewardkit.scoring.model import RewardModel

    config = build_config(ModelConfig, options)
    try:
        facts = RewardModel.open(model, config).info.as_dict()
    except RewardKitError as exc:
        fail(exc)
    if as_json:
        typer.echo(json.dumps(facts, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=False)
    for key, value in facts.items():
        table.add_row(key, str(value))
    Console().print(table)


@app.command()
def builtin(
    rebuild: bool = typer.Option(False, "--rebuild", help="Assemble it again even if the cache has it."),
) -> None:
    """Assemble the built-in model (SmolLM2-135M-Instruct + the trained reward head shipped in this
    package) into the cache once, then print where it is and how it scored on held-out pairs.
    `make setup` runs this; `rewardkit serve` with no model serves it."""
    from rewardkit.cli_train import accuracy_text
    from rewardkit.models.builtin import builtin_head, ensure_builtin

    try:
        path = ensure_builtin(rebuild=rebuild)
    except (RewardKitError, OSError) as exc:
        fail(exc)
    typer.echo(f"built-in model: {path}")
    evaluation = builtin_head().get("evaluation") or {}
    held_out, baseline = evaluation.get("held_out"), evaluation.get("length_baseline")
    if held_out and baseline:
        typer.echo(
            f"held-out accuracy {accuracy_text(held_out)}; longer-response baseline {100 * baseline['accuracy']:.1f}%"
        )


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    app()


if __name__ == "__main__":
    main()
