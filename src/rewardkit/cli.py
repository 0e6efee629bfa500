"""`rewardkit` command line: serve | score | info."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import typer

from rewardkit.cli_options import build_config, config_options
from rewardkit.config import EngineConfig, ModelConfig, ServerConfig
from rewardkit.errors import RewardKitError

__all__ = ["app", "main"]

app = typer.Typer(
    help="Serve, run and evaluate reward models. MODEL is a checkpoint folder, or 'builtin'.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

MODEL_ARG = typer.Argument("builtin", help="Checkpoint folder, or 'builtin' for the bundled model.")


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@app.command()
@config_options(ModelConfig, EngineConfig, ServerConfig)
def serve(model: str = MODEL_ARG, **options: Any) -> None:
    """Serve MODEL over HTTP: POST /get_reward (OpenRLHF), POST /score (messages), /health, /metrics, /info."""
    import uvicorn

    from rewardkit.builtin import resolve_model_path
    from rewardkit.models import load_model
    from rewardkit.server import build

    model_config = build_config(ModelConfig, options)
    server_config = build_config(ServerConfig, options)
    try:
        loaded = load_model(resolve_model_path(model), model_config)
        application = build(loaded, model_config, build_config(EngineConfig, options), server_config)
    except RewardKitError as exc:
        _fail(exc)
    info = loaded.info
    typer.echo(
        f"rewardkit: {info.format} {info.architecture} on {info.device} ({info.dtype}), max length "
        f"{info.max_length}; http://{server_config.host}:{server_config.port}"
    )
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
    from rewardkit.builtin import resolve_model_path
    from rewardkit.model import RewardModel
    from rewardkit.models import load_model
    from rewardkit.offline import score_file

    config = build_config(ModelConfig, options)
    try:
        reward_model = RewardModel(
            load_model(resolve_model_path(model), config), config, max_batch_tokens=max_batch_tokens
        )
        count = score_file(reward_model, input_path, output)
    except (RewardKitError, OSError) as exc:
        _fail(exc)
    typer.echo(f"scored {count} rows -> {output}")


@app.command()
@config_options(ModelConfig)
def info(
    model: str = MODEL_ARG, as_json: bool = typer.Option(False, "--json", help="Print JSON."), **options: Any
) -> None:
    """Load MODEL and print what was detected: format, head, pooling, tokens, template, normalization."""
    from rewardkit.builtin import resolve_model_path
    from rewardkit.model import RewardModel
    from rewardkit.models import load_model

    config = build_config(ModelConfig, options)
    try:
        facts = RewardModel(load_model(resolve_model_path(model), config), config).info.as_dict()
    except RewardKitError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(facts, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=False)
    for key, value in facts.items():
        table.add_row(key, str(value))
    Console().print(table)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    app()


if __name__ == "__main__":
    main()
