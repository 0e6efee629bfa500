"""`rewardkit bon ...`: Best-of-N pools: generate candidates, build a pool from AlpacaEval, select the
best, and the expected Best-of-N curve with plots. The work is in rewardkit.evaluation.bon."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from rewardkit.cli.common import BATCH_TOKENS, CLI_ERRORS, SCORER_MODELS, SERVER_API_KEY, fail, open_scorer
from rewardkit.cli.generate import generate
from rewardkit.cli.options import config_options
from rewardkit.config import EnsembleConfig, ModelConfig
from rewardkit.data.files import write_rows

__all__ = ["bon_app"]

bon_app = typer.Typer(
    help="Best-of-N: sample candidates, pick the best with a reward model, and measure the Best-of-N curve.",
    no_args_is_help=True,
)
bon_app.command("generate")(generate)

POOL_ARG = typer.Argument(
    ...,
    metavar="POOL.jsonl",
    help="One prompt per line: 'prompt'|'instruction'|'messages', 'candidates' (strings or {text, gold}), "
    "optional 'gold_scores' / 'proxy_scores' lists.",
)


@bon_app.command("pool")
def pool(
    sources: list[Path] = typer.Argument(..., help="AlpacaEval annotation files or folders of them."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the pool (JSONL)."),
    limit: int | None = typer.Option(None, help="Keep only the first LIMIT instructions."),
) -> None:
    """Build a Best-of-N pool with gold scores from AlpacaEval annotations: per instruction, the
    reference answer (gold 0.5) and each generator's (gold = preference - 1 = P(beats the reference))."""
    from rewardkit.evaluation.bon import alpaca_eval_pool

    try:
        rows = alpaca_eval_pool(sources)[:limit]
    except CLI_ERRORS as exc:
        fail(exc)
    write_rows(output, rows)
    typer.echo(f"{len(rows)} prompts x {len(rows[0]['candidates']) if rows else 0} candidates -> {output}")


def _scored(
    pool_path: Path,
    models: list[str] | None,
    options: dict[str, Any],
    api_key: str | None,
    max_batch_tokens: int | None,
) -> Any:
    from rewardkit.evaluation.bon import read_pool, score_pool

    prompts = read_pool(pool_path)
    if not models and all(p.proxy is not None for p in prompts):
        import numpy as np

        return prompts, {"proxy": [np.asarray(p.proxy) for p in prompts]}
    scorer = open_scorer(models, options, api_key=api_key, max_batch_tokens=max_batch_tokens)
    return prompts, score_pool(scorer, prompts)


@bon_app.command("select")
@config_options(ModelConfig, EnsembleConfig)
def select(
    pool_path: Path = POOL_ARG,
    output: Path = typer.Option(..., "-o", "--output", help="JSONL: each row plus proxy_scores, best, best_candidate."),
    models: list[str] | None = SCORER_MODELS,
    server_api_key: str | None = SERVER_API_KEY,
    max_batch_tokens: int | None = BATCH_TOKENS,
    **options: Any,
) -> None:
    """Score every candidate of a pool and pick the best per prompt (exact ties: the earlier one)."""
    from rewardkit.evaluation.bon import select_best

    try:
        prompts, scores = _scored(pool_path, models, options, server_api_key, max_batch_tokens)
        rows = select_best(prompts, scores)
    except CLI_ERRORS as exc:
        fail(exc)
    write_rows(output, rows)
    gold = [r["best_gold"] for r in rows if "best_gold" in r]
    summary = f"; mean gold of the picks {sum(gold) / len(gold):.4f}" if len(gold) == len(rows) else ""
    typer.echo(f"selected the best of {len(rows)} groups -> {output}{summary}")


@bon_app.command("eval")
@config_options(ModelConfig, EnsembleConfig)
def evaluate(
    pool_path: Path = POOL_ARG,
    output: Path = typer.Option(Path("bon_eval"), "-o", "--output", help="Folder for the JSON, CSV and PNG."),
    models: list[str] | None = SCORER_MODELS,
    ns: str | None = typer.Option(None, "--ns", help="Comma-separated n values. Default: 1, 2, 4, ... up to N."),
    server_api_key: str | None = SERVER_API_KEY,
    max_batch_tokens: int | None = BATCH_TOKENS,
    **options: Any,
) -> None:
    """The expected Best-of-N curve: for each n, the proxy score of the proxy's pick and its gold score,
    averaged over all n-subsets of the candidates exactly (unbiased estimator) and over prompts; also
    against KL = log n - (n-1)/n. With no --model, the pool's own 'proxy_scores' are used when present.
    An ensemble gets one curve per member too."""
    from rewardkit.evaluation.bon import evaluate_pool, write_bon_outputs

    try:
        n_values = [int(v) for v in ns.split(",")] if ns else None
    except ValueError:
        fail(ValueError(f"--ns must be comma-separated integers, got {ns!r}"))
    try:
        prompts, scores = _scored(pool_path, models, options, server_api_key, max_batch_tokens)
        evaluation = evaluate_pool(prompts, scores, n_values)
        paths = write_bon_outputs(evaluation, output)
    except CLI_ERRORS as exc:
        fail(exc)
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Best-of-N over {evaluation.prompts} prompts")
    for column in ("n", "KL", "proxy", "gold"):
        table.add_column(column, justify="right")
    for p in evaluation.curves["proxy"]:
        gold = "" if p.gold_score is None else f"{p.gold_score:.4f}"
        table.add_row(str(p.n), f"{p.kl:.3f}", f"{p.proxy_score:.4f}", gold)
    Console().print(table)
    typer.echo("wrote " + ", ".join(str(p) for p in paths))
