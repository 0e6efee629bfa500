"""`rewardkit eval pairs | mc`: reward-model accuracy on preference pairs and multiple-choice ranking,
written as JSON + Markdown + PNG. The work is in rewardkit.evaluation."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import typer

from rewardkit.cli.common import API_KEY, BATCH_TOKENS, CLI_ERRORS, SCORER_MODELS, fail, open_scorer
from rewardkit.cli.options import config_options
from rewardkit.config import EnsembleConfig, ModelConfig

__all__ = ["eval_app"]

eval_app = typer.Typer(
    help="Evaluate reward models (one, an ensemble, or a running server) on labelled data.", no_args_is_help=True
)

OUTPUT = typer.Option(Path("eval"), "-o", "--output", help="Folder for report.json, report.md and the PNG plot.")
LIMIT = typer.Option(
    None, min=1, help="Evaluate a random sample of this many items (seeded by --seed), for a quick look."
)
SEED = typer.Option(0, help="Seed for --limit's sample.")


def _sample(items: list[Any], limit: int | None, seed: int) -> list[Any]:
    if limit is None or limit >= len(items):
        return items
    chosen = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in chosen]


def _print_rows(title: str, header: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in header:
        table.add_column(column, justify="right" if column != header[0] else "left")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


@eval_app.command("pairs")
@config_options(ModelConfig, EnsembleConfig)
def pairs(
    data: list[Path] = typer.Argument(
        ...,
        help="Preference data files or folders: hh-rlhf (chosen/rejected dialogues), LLMBar (output_1/output_2/label), "
        "AlpacaEval annotations (soft 'preference'), or prompt/chosen/rejected (strings or messages; optional "
        "'subset'). JSON, JSONL or .gz.",
    ),
    models: list[str] | None = SCORER_MODELS,
    output: Path = OUTPUT,
    limit: int | None = LIMIT,
    seed: int = SEED,
    api_key: str | None = API_KEY,
    max_batch_tokens: int | None = BATCH_TOKENS,
    **options: Any,
) -> None:
    """Accuracy on preference pairs: how often the preferred response scores higher (a tie counts as
    wrong; soft labels weigh each pair by its label), per subset and overall, with a 95% Wilson interval;
    RewardBench section scores when subset names match RewardBench's; each ensemble member alongside."""
    from dataclasses import replace

    from rewardkit.data.readers import read_pairs
    from rewardkit.evaluation.pairs import evaluate_pairs
    from rewardkit.evaluation.report import write_report

    try:
        dataset = read_pairs(data)
        dataset = replace(dataset, pairs=_sample(list(dataset.pairs), limit, seed))
        scorer = open_scorer(models, options, api_key=api_key, max_batch_tokens=max_batch_tokens)
        report = evaluate_pairs(scorer, dataset)
        paths = write_report(report, output)
    except CLI_ERRORS as exc:
        fail(exc)
    results = [("overall", report.combined.overall), *report.combined.subsets.items()]
    _print_rows(
        f"{scorer.name}: accuracy (%) on {report.combined.overall.n} pairs",
        ["subset", "n", "accuracy", "95% CI"],
        [[name, str(m.n), _pct(m.accuracy), f"{_pct(m.ci_low)}-{_pct(m.ci_high)}"] for name, m in results],
    )
    for name, member in report.members.items():
        typer.echo(f"member {name}: {_pct(member.overall.accuracy)}%")
    typer.echo("wrote " + ", ".join(str(p) for p in paths))


@eval_app.command("mc")
@config_options(ModelConfig, EnsembleConfig)
def multiple_choice(
    data: list[Path] = typer.Argument(
        ...,
        help="TruthfulQA CSV (Question, Best Answer, Incorrect Answers, Category) or JSONL rows of "
        "{question|prompt|messages, correct, incorrect: [...], subset?}.",
    ),
    models: list[str] | None = SCORER_MODELS,
    output: Path = OUTPUT,
    limit: int | None = LIMIT,
    seed: int = SEED,
    api_key: str | None = API_KEY,
    max_batch_tokens: int | None = BATCH_TOKENS,
    **options: Any,
) -> None:
    """Multiple-choice ranking: score the correct answer and every incorrect one; report the average
    rank of the correct answer (ties count against it), how often it ranks first (vs chance), the
    average gap from the best score, and the average correct and best scores, per category and overall."""
    from dataclasses import replace

    from rewardkit.data.readers import read_multiple_choice
    from rewardkit.evaluation.mc import evaluate_mc
    from rewardkit.evaluation.report import write_report

    try:
        dataset = read_multiple_choice(data)
        dataset = replace(dataset, questions=_sample(list(dataset.questions), limit, seed))
        scorer = open_scorer(models, options, api_key=api_key, max_batch_tokens=max_batch_tokens)
        report = evaluate_mc(scorer, dataset)
        paths = write_report(report, output)
    except CLI_ERRORS as exc:
        fail(exc)
    m = report.combined.overall
    _print_rows(
        f"{scorer.name}: multiple choice over {m.n} questions",
        ["metric", "value"],
        [
            ["top-1 (%)", f"{_pct(m.top1)} (chance {_pct(m.chance_top1)})"],
            ["mean rank of the correct answer", f"{m.mean_rank:.2f} of {m.mean_choices:.1f}"],
            ["mean gap from the best score", f"{m.mean_gap:.4f}"],
            ["mean correct / best score", f"{m.mean_correct_score:.4f} / {m.mean_best_score:.4f}"],
        ],
    )
    typer.echo("wrote " + ", ".join(str(p) for p in paths))
