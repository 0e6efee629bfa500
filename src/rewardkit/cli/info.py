"""`rewardkit info` (what was detected in a checkpoint) and `rewardkit builtin` (the bundled model)."""

from __future__ import annotations

import json
from typing import Any

import typer

from rewardkit.cli.common import accuracy_text, fail
from rewardkit.cli.options import build_config, config_options
from rewardkit.config import ModelConfig
from rewardkit.errors import RewardKitError

__all__ = ["builtin", "info"]

MODEL_ARG = typer.Argument("builtin", help="Checkpoint folder, or 'builtin' for the bundled model.")


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


def builtin(
    rebuild: bool = typer.Option(False, "--rebuild", help="Assemble it again even if the cache has it."),
) -> None:
    """Assemble the built-in model (SmolLM2-135M-Instruct + the trained reward head shipped in this
    package) into the cache once, then print where it is and how it scored on held-out pairs.
    `make setup` runs this; `rewardkit serve` with no model serves it."""
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
