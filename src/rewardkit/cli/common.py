"""What the CLI's commands share: failing with a clear message, the model arguments that turn into a
Scorer (one checkpoint, an ensemble of several, or a running server), and how accuracy is printed."""

from __future__ import annotations

import os
from typing import Any, NoReturn

import httpx
import typer

from rewardkit.cli.options import build_config
from rewardkit.config import EngineConfig, EnsembleConfig, ModelConfig, help_text
from rewardkit.errors import RewardKitError

__all__ = ["BATCH_TOKENS", "CLI_ERRORS", "SCORER_MODELS", "SERVER_API_KEY", "accuracy_text", "fail", "open_scorer"]

CLI_ERRORS = (RewardKitError, OSError, httpx.HTTPError)
"""What a command reports as `error: ...` and exit 2: ours, files, and a server that cannot be reached."""

SCORER_MODELS = typer.Option(
    None,
    "--model",
    "-m",
    help="Checkpoint folder, 'builtin', or the URL of a running rewardkit server. Repeat for an ensemble of "
    "checkpoints (combined by --ensemble). Default: builtin.",
)

SERVER_API_KEY = typer.Option(
    None,
    "--server-api-key",
    help="The key sent as 'Authorization: Bearer' to a model that is a server URL. Default: $REWARDKIT_API_KEY. "
    "(On `rewardkit serve`, --api-key is the key the server requires.)",
)
BATCH_TOKENS = typer.Option(None, help=help_text(EngineConfig, "max_batch_tokens") + " Local models only.")


def fail(exc: Exception) -> NoReturn:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def open_scorer(
    models: list[str] | None,
    options: dict[str, Any],
    *,
    api_key: str | None = None,
    max_batch_tokens: int | None = None,
) -> Any:
    from rewardkit.scoring.scorers import build_scorer

    return build_scorer(
        models or ["builtin"],
        build_config(ModelConfig, options),
        build_config(EnsembleConfig, options),
        api_key=api_key or os.environ.get("REWARDKIT_API_KEY"),
        max_batch_tokens=max_batch_tokens,
    )


def accuracy_text(figures: dict[str, Any]) -> str:
    """Pair accuracy with its 95% interval and count, e.g. '64.3% (95% CI 60.0-68.5, 485 pairs)'."""
    return (
        f"{100 * figures['accuracy']:.1f}% (95% CI {100 * figures['ci_low']:.1f}-"
        f"{100 * figures['ci_high']:.1f}, {figures['n']} pairs)"
    )
