"""`rewardkit eval pairs | mc | rewardbench2 | rm-bench`: reward-model accuracy on preference pairs,
multiple-choice ranking, RewardBench 2 and RM-Bench, written as JSON + Markdown + PNG. The work is in
rewardkit.evaluation; the benchmark files are read in rewardkit.data."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from rewardkit.cli.common import BATCH_TOKENS, CLI_ERRORS, SCORER_MODELS, SERVER_API_KEY, fail, open_scorer
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


def _evaluate(
    data: list[Path],
    read: Callable[[list[Path]], Any],
    evaluate: Callable[[Any, Any], Any],
    *,
    models: list[str] | None,
    options: dict[str, Any],
    output: Path,
    api_key: str | None,
    max_batch_tokens: int | None,
) -> tuple[Any, Any, list[Path]]:
    """(scorer, report, paths written) of an eval command: the data read (and sampled) by ``read``,
    then the scorer opened, ``evaluate`` run and the report written; a CLI error ends the command."""
    from rewardkit.evaluation.report import write_report

    try:
        dataset = read(data)
        scorer = open_scorer(models, options, api_key=api_key, max_batch_tokens=max_batch_tokens)
        report = evaluate(scorer, dataset)
        paths = write_report(report, output)
    except CLI_ERRORS as exc:
        fail(exc)
    return scorer, report, paths


def _wrote(paths: list[Path]) -> None:
    typer.echo("wrote " + ", ".join(str(p) for p in paths))


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
    server_api_key: str | None = SERVER_API_KEY,
    max_batch_tokens: int | None = BATCH_TOKENS,
    **options: Any,
) -> None:
    """Accuracy on preference pairs: how often the preferred response scores higher (a tie counts as
    wrong; soft labels weigh each pair by its label), per subset and overall, with a 95% Wilson interval;
    RewardBench section scores when subset names match RewardBench's; each ensemble member alongside."""
    from dataclasses import replace

    from rewardkit.data.readers import read_pairs
    from rewardkit.evaluation.pairs import evaluate_pairs

    def read(files: list[Path]) -> Any:
        dataset = read_pairs(files)
        return replace(dataset, pairs=_sample(list(dataset.pairs), limit, seed))

    scorer, report, paths = _evaluate(
        data,
        read,
        evaluate_pairs,
        models=models,
        options=options,
        output=output,
        api_key=server_api_key,
        max_batch_tokens=max_batch_tokens,
    )
    results = [("overall", report.combined.overall), *report.combined.subsets.items()]
    _print_rows(
        f"{scorer.name}: accuracy (%) on {report.combined.overall.n} pairs",
        ["subset", "n", "accuracy", "95% CI"],
        [[name, str(m.n), _pct(m.accuracy), f"{_pct(m.ci_low)}-{_pct(m.ci_high)}"] for name, m in results],
    )
    for name, member in report.members.items():
        typer.echo(f"member {name}: {_pct(member.overall.accuracy)}%")
    _wrote(paths)


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
    server_api_key: str | None = SERVER_API_KEY,
    max_batch_tokens: int | None = BATCH_TOKENS,
    **options: Any,
) -> None:
    """Multiple-choice ranking: score the correct answer and every incorrect one; report the average
    rank of the correct answer (ties count against it), how often it ranks first (vs chance), the
    average gap from the best score, and the average correct and best scores, per category and overall."""
    from dataclasses import replace

    from rewardkit.data.readers import read_multiple_choice
    from rewardkit.evaluation.mc import evaluate_mc

    def read(files: list[Path]) -> Any:
        dataset = read_multiple_choice(files)
        return replace(dataset, questions=_sample(list(dataset.questions), limit, seed))

    scorer, report, paths = _evaluate(
        data,
        read,
        evaluate_mc,
        models=models,
        options=options,
        output=output,
        api_key=server_api_key,
        max_batch_tokens=max_batch_tokens,
    )
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
    _wrote(paths)


def _benchmark_table(title: str, rows: list[tuple[str, str, list[float]]], columns: list[str]) -> None:
    _print_rows(title, ["", "rows", *columns], [[name, n, *map(_pct, values)] for name, n, values in rows])


@eval_app.command("rewardbench2")
@config_options(ModelConfig, EnsembleConfig)
def rewardbench2(
    data: list[Path] = typer.Argument(
        ...,
        help="RewardBench 2's test split in its published columns (id, prompt, chosen, rejected, num_correct, "
        "subset, ...): JSON, JSONL (.gz too) or Parquet files or folders of them, or the datasets name "
        "allenai/reward-bench-2 when the machine is online.",
    ),
    models: list[str] | None = SCORER_MODELS,
    output: Path = OUTPUT,
    limit: int | None = typer.Option(
        None,
        min=1,
        help="Evaluate a random sample of about this many rows (seeded by --seed; a Ties row brings its "
        "ref/tied partner), for a quick look.",
    ),
    seed: int = SEED,
    server_api_key: str | None = SERVER_API_KEY,
    max_batch_tokens: int | None = BATCH_TOKENS,
    **options: Any,
) -> None:
    """RewardBench 2 as its authors score it: each answer scored on its own; a row scores 1/k when its
    first correct answer is among the k answers at the top score; Ties by its weighted formula; the
    score is the unweighted mean of the subsets. The length baseline and each ensemble member alongside."""
    from rewardkit.data.rewardbench2 import check_rewardbench2, sample_rewardbench2
    from rewardkit.evaluation.rewardbench2 import evaluate_rewardbench2

    def read(files: list[Path]) -> Any:
        rows = check_rewardbench2(files)
        return rows if limit is None else rows.take(sample_rewardbench2(rows, limit, seed))

    scorer, report, paths = _evaluate(
        data,
        read,
        evaluate_rewardbench2,
        models=models,
        options=options,
        output=output,
        api_key=server_api_key,
        max_batch_tokens=max_batch_tokens,
    )
    results = [report.combined, *report.members.values(), report.length]
    table = [("score", str(sum(report.counts.values())), [r.score for r in results])]
    table += [(name, str(n), [r.subsets[name] for r in results]) for name, n in report.counts.items()]
    _benchmark_table(
        f"RewardBench 2 (%): {scorer.name}", table, [scorer.name, *report.members, f"longer ({report.length_unit})"]
    )
    _wrote(paths)


@eval_app.command("rm-bench")
@config_options(ModelConfig, EnsembleConfig)
def rm_bench(
    data: list[Path] = typer.Argument(
        ...,
        help="RM-Bench rows (id, prompt, chosen: 3, rejected: 3, domain) as JSON or JSONL (.gz too, or Parquet), "
        "or a folder of the authors' per-domain files (chat_filtered.json, ...), whose rows take their domain "
        "from the file's name.",
    ),
    models: list[str] | None = SCORER_MODELS,
    output: Path = OUTPUT,
    limit: int | None = LIMIT,
    seed: int = SEED,
    server_api_key: str | None = SERVER_API_KEY,
    max_batch_tokens: int | None = BATCH_TOKENS,
    **options: Any,
) -> None:
    """RM-Bench as its authors score it: per domain (chat, code, math, safety) the 3x3 matrix of chosen
    answer i beating rejected answer j (a tie loses), read as hard (upper triangle), normal (diagonal)
    and easy (lower triangle); overall figures are means over the domains. The length baseline and each
    ensemble member alongside."""
    from rewardkit.data.rm_bench import check_rm_bench
    from rewardkit.evaluation.rm_bench import evaluate_rm_bench

    def read(files: list[Path]) -> Any:
        rows = check_rm_bench(files)
        return rows if limit is None else rows.take(rows.sample(limit, seed))

    scorer, report, paths = _evaluate(
        data,
        read,
        evaluate_rm_bench,
        models=models,
        options=options,
        output=output,
        api_key=server_api_key,
        max_batch_tokens=max_batch_tokens,
    )
    table = []
    for name in [*report.counts, "overall"]:
        mine = report.combined if name == "overall" else report.combined.domains[name]
        length = report.length if name == "overall" else report.length.domains[name]
        members = [(r if name == "overall" else r.domains[name]).score for r in report.members.values()]
        n = sum(report.counts.values()) if name == "overall" else report.counts[name]
        table.append((name, str(n), [mine.hard, mine.normal, mine.easy, mine.score, *members, length.score]))
    _benchmark_table(
        f"RM-Bench (%): {scorer.name}",
        table,
        ["hard", "normal", "easy", "score", *report.members, f"longer ({report.length_unit})"],
    )
    _wrote(paths)
