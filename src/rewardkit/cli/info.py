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
            f"held-out HH-RLHF harmless-base: {accuracy_text(held_out)}; "
            f"longer-response baseline {100 * baseline['accuracy']:.1f}%"
        )
    for line in benchmark_lines(evaluation.get("benchmarks") or {}):
        typer.echo(line)


def benchmark_lines(benchmarks: dict[str, Any]) -> list[str]:
    """The other held-out figures `scripts/train_builtin.py` records, one line each, next to the
    length baseline on the same data."""
    lines = []
    for key, label in [("alpaca_eval_held_out_pairs", "AlpacaEval pairs"), ("llmbar_natural", "LLMBar Natural")]:
        if key in benchmarks:
            model, length = benchmarks[key]["builtin"], benchmarks[key]["length"]
            shorter = model.get("preferred shorter")
            lines.append(
                f"held-out {label}: {accuracy_text(model)}; longer-response baseline {100 * length['accuracy']:.1f}%"
                + ("" if shorter is None else f"; {100 * shorter:.1f}% where the preferred answer is the shorter")
            )
    if "truthfulqa_mc" in benchmarks:
        model, length = benchmarks["truthfulqa_mc"]["builtin"], benchmarks["truthfulqa_mc"]["length"]
        lines.append(
            f"TruthfulQA multiple choice: top-1 {100 * model['top1']:.1f}% of {model['n']} questions "
            f"(chance {100 * model['chance_top1']:.1f}%, longest answer {100 * length['top1']:.1f}%)"
        )
    bon = benchmarks.get("alpaca_eval_held_out_best_of_n")
    if bon:
        curve = ", ".join(f"n={p['n']} {p['gold_score']:.3f}" for p in bon["curve"])
        lines.append(f"Best-of-n gold on {bon['instructions']} held-out AlpacaEval instructions: {curve}")
    return lines
