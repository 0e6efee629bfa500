"""`rewardkit score`: score a table (JSONL, Parquet, CSV, a datasets folder) in bulk, resumably, here or on Ray."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from rewardkit.cli.common import CLI_ERRORS, SERVER_API_KEY, fail
from rewardkit.cli.options import build_config, config_options
from rewardkit.config import EngineConfig, ModelConfig, ServerConfig, help_text

__all__ = ["score"]

FIELDS = "Default: a row's 'messages', else 'text', else 'query'."


@config_options(ModelConfig)
def score(
    model: str = typer.Argument(
        ...,
        help="Checkpoint folder, 'builtin', or the URL of a running rewardkit server (scored through its /score; "
        "the model flags are then the server's own).",
    ),
    input_path: Path = typer.Argument(
        ...,
        metavar="INPUT",
        help="A .jsonl(.gz), .parquet or .csv(.gz) file, or a Hugging Face datasets folder (save_to_disk).",
    ),
    output: Path = typer.Option(
        ...,
        "-o",
        "--output",
        help="Where the rows go, every input column kept and 'score', 'truncated' (and 'objectives', 'steps') "
        "added: .jsonl, .jsonl.gz, .parquet or .csv. Beside it: OUT.progress.json while running, "
        "OUT.manifest.json when done, OUT.errors.jsonl for skipped rows.",
    ),
    text_field: str | None = typer.Option(None, help=f"Column holding full texts (template applied). {FIELDS}"),
    messages_field: str | None = typer.Option(None, help=f"Column holding [{{role, content}}] lists. {FIELDS}"),
    prompt_field: str | None = typer.Option(None, help="Column holding the prompt; with --response-field."),
    response_field: str | None = typer.Option(
        None, help="Column holding the response, templated with --prompt-field as a user turn and its answer."
    ),
    chunk_rows: int = typer.Option(2048, min=1, help="Rows read, scored and committed at a time."),
    on_error: str = typer.Option(
        "stop",
        help="A bad row (unreadable, missing field, non-finite score): 'stop' names it, keeping every row "
        "before it committed; 'skip' writes it to OUT.errors.jsonl and goes on.",
    ),
    restart: bool = typer.Option(
        False,
        "--restart",
        "--overwrite",
        help="Start over, replacing OUT and what is beside it. Without it a killed run continues where it "
        "stopped, and a run of another input, model or settings is refused.",
    ),
    backend: str = typer.Option(
        "local",
        help="'local' (this process) or 'ray' (Ray Data actors, one loaded model each; RAY_ADDRESS or a local Ray).",
    ),
    ray_replicas: int = typer.Option(
        1, min=1, help="With --backend ray: model replicas, one Ray actor each.", rich_help_panel="Ray"
    ),
    ray_gpus_per_replica: float = typer.Option(
        0.0, min=0.0, help=help_text(ServerConfig, "ray_gpus_per_replica"), rich_help_panel="Ray"
    ),
    ray_cpus_per_replica: float = typer.Option(
        1.0, min=0.0, help=help_text(ServerConfig, "ray_cpus_per_replica"), rich_help_panel="Ray"
    ),
    max_batch_tokens: int | None = typer.Option(None, help=help_text(EngineConfig, "max_batch_tokens")),
    server_api_key: str | None = SERVER_API_KEY,
    **options: Any,
) -> None:
    """Score a table in bulk: streamed in chunks (constant memory), committed chunk by chunk, resumed
    by running the same command again after a crash or kill (any backend, a server URL too)."""
    from rewardkit.scoring.bulk import BulkSettings, Columns

    if on_error not in ("stop", "skip"):
        fail(ValueError(f"--on-error must be 'stop' or 'skip', got {on_error!r}"))
    if backend not in ("local", "ray"):
        fail(ValueError(f"--backend must be 'local' or 'ray', got {backend!r}"))
    config = build_config(ModelConfig, options)
    remote = model.startswith(("http://", "https://"))
    if remote and (backend != "local" or config != ModelConfig() or max_batch_tokens is not None):
        fail(
            ValueError(
                f"{model} is a server: it scores with its own model settings and batching, so leave out "
                "--backend ray, --max-batch-tokens and the model flags (set them on its `rewardkit serve`)"
            )
        )
    try:
        columns = Columns(text_field, messages_field, prompt_field, response_field)
        settings = BulkSettings(chunk_rows=chunk_rows, on_error=on_error, overwrite=restart)  # type: ignore[arg-type]
        if remote:
            summary = _score_through_server(model, input_path, output, columns, settings, server_api_key)
        elif backend == "ray":
            from rewardkit.scoring.ray_bulk import RayPool, score_table_on_ray

            pool = RayPool(
                replicas=ray_replicas, gpus_per_replica=ray_gpus_per_replica, cpus_per_replica=ray_cpus_per_replica
            )
            summary = score_table_on_ray(model, config, input_path, output, columns, settings, pool, max_batch_tokens)
        else:
            from rewardkit.scoring.bulk import check_resumable, score_table
            from rewardkit.scoring.model import RewardModel

            check_resumable(input_path, output, columns, settings)  # before the model loads
            reward_model = RewardModel.open(model, config, max_batch_tokens=max_batch_tokens)
            summary = score_table(reward_model, input_path, output, columns, settings)
    except CLI_ERRORS as exc:
        fail(exc)
    if summary.complete and summary.seconds == 0.0:
        typer.echo(f"{output} is already complete ({summary.scored} rows scored); --restart scores it again")
        return
    rate = f", {summary.tokens / summary.seconds:,.0f} tokens/s" if summary.tokens and summary.seconds else ""
    resumed = f", resumed at row {summary.resumed_at}" if summary.resumed_at else ""
    typer.echo(
        f"scored {summary.scored} rows ({summary.skipped} skipped, {summary.truncated} truncated) -> {output} "
        f"in {summary.seconds:.1f} s{rate}{resumed}"
    )
    if summary.skipped:
        typer.echo(f"skipped rows and why: {output}.errors.jsonl")


def _score_through_server(
    url: str, input_path: Path, output: Path, columns: Any, settings: Any, api_key: str | None
) -> Any:
    import os

    from rewardkit.scoring.bulk import check_resumable, score_table_with
    from rewardkit.scoring.server_bulk import ServerScorer

    check_resumable(input_path, output, columns, settings)  # before the server is asked anything
    scorer = ServerScorer(url, columns, api_key=api_key or os.environ.get("REWARDKIT_API_KEY"))
    try:
        return score_table_with(scorer, input_path, output, settings)
    finally:
        scorer.close()
