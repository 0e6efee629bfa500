"""`rewardkit score`: score a JSONL file offline with one local model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from rewardkit.cli.common import fail
from rewardkit.cli.options import build_config, config_options
from rewardkit.config import EngineConfig, ModelConfig, help_text
from rewardkit.errors import RewardKitError

__all__ = ["score"]


@config_options(ModelConfig)
def score(
    model: str = typer.Argument(..., help="Checkpoint folder, or 'builtin'."),
    input_path: Path = typer.Argument(..., metavar="INPUT.jsonl", help="One {'text'|'query'|'messages'} per line."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the rows with a 'score' added."),
    max_batch_tokens: int | None = typer.Option(None, help=help_text(EngineConfig, "max_batch_tokens")),
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
