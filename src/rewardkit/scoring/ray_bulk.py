"""`rewardkit score --backend ray`: the same table scoring, spread over a Ray cluster with Ray Data.

Ray Data reads the input (JSON Lines, Parquet, CSV, a datasets folder), ``map_batches`` runs an actor
pool with one loaded RewardModel per actor (``--actors``, ``--gpus-per-actor``, ``--cpus-per-actor``)
that scores Arrow batches with the same column rules and encoding as the local backend, and the
driver streams the scored rows, in input order, into the same output writer. Connects to
``RAY_ADDRESS`` when it is set, else starts a local Ray. Ray retries failed actors and shows the
progress; a killed run starts over (the local backend is the resumable one).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardkit.config import ModelConfig
from rewardkit.data.tables import open_sink, open_source
from rewardkit.errors import InvalidInputError, ModelOutputError, RewardKitError
from rewardkit.scoring.bulk import BulkSettings, BulkSummary, Columns, encode_row, errors_path, scored_row

__all__ = ["RayPool", "score_table_on_ray"]

ERROR = "__rewardkit_error__"
"""The column an actor fills, instead of a score, for a row it could not score (--on-error skip)."""
BATCH_ROWS = 256


@dataclass(frozen=True)
class RayPool:
    actors: int = 1
    gpus_per_actor: float = 0.0
    cpus_per_actor: float = 1.0


class ScoringActor:
    """One loaded model in a Ray actor; called with Arrow batches, returns them scored."""

    def __init__(self, model: str, config: ModelConfig, columns: Columns, max_batch_tokens: int | None) -> None:
        from rewardkit.scoring.model import RewardModel

        self.model = RewardModel.open(model, config, max_batch_tokens=max_batch_tokens)
        self.columns = columns
        info = self.model.info
        self.outputs, self.steps = bool(info.outputs), bool(info.steps)

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        rows = batch.to_pylist()
        items, where = [], []
        out: list[dict[str, Any]] = [dict(row) for row in rows]
        for position, row in enumerate(rows):
            try:
                item = encode_row(self.model, self.columns, row)
            except InvalidInputError as exc:
                out[position][ERROR] = str(exc)  # the driver stops at it or skips it, in input order
                continue
            items.append(item)
            where.append(position)
        for position, outcome in zip(where, self.model.outcomes(items)):
            if isinstance(outcome, ModelOutputError):
                out[position][ERROR] = str(outcome)
            else:
                out[position] = {**scored_row(rows[position], outcome, self.outputs, self.steps), ERROR: None}
        return pa.Table.from_pylist(out)


def _dataset(source_path: Path) -> Any:
    import ray.data

    source = open_source(source_path)
    compressed = {"arrow_open_stream_args": {"compression": "gzip"}} if source_path.name.endswith(".gz") else {}
    if source.kind == "jsonl":
        return ray.data.read_json(str(source_path), lines=True, **compressed)
    if source.kind == "parquet":
        return ray.data.read_parquet(str(source_path))
    if source.kind == "csv":
        import pyarrow as pa
        from pyarrow import csv

        header = next(r for _, r in source.rows(0))  # every column as text, as the local reader gives it
        types = {name: pa.string() for name in header}
        return ray.data.read_csv(str(source_path), convert_options=csv.ConvertOptions(column_types=types), **compressed)
    return ray.data.from_huggingface(source.dataset())


def score_table_on_ray(
    model: str,
    config: ModelConfig,
    source_path: Path,
    target: Path,
    columns: Columns,
    settings: BulkSettings,
    pool: RayPool,
    max_batch_tokens: int | None = None,
) -> BulkSummary:
    """Score ``source_path`` into ``target`` on Ray; the rows come back in input order."""
    try:
        import ray
    except ImportError:
        raise RewardKitError("--backend ray needs Ray: pip install 'rewardkit[ray]'") from None
    if target.exists() and not settings.overwrite:
        raise InvalidInputError(f"{target} exists; pass --overwrite to replace it")
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS"), log_to_driver=False, include_dashboard=False)
    cpus = ray.cluster_resources().get("CPU", 0.0)
    if cpus - pool.actors * pool.cpus_per_actor < 1:  # reading needs a CPU too, or the pipeline waits forever
        raise RewardKitError(
            f"{pool.actors} actors x {pool.cpus_per_actor} CPUs leave less than one of the cluster's {cpus:g} CPUs "
            "for reading the input; lower --actors or --cpus-per-actor (fractions are fine)"
        )
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    started = time.perf_counter()
    scored = _dataset(source_path).map_batches(
        ScoringActor,
        fn_constructor_args=(model, config, columns, max_batch_tokens),
        batch_format="pyarrow",
        batch_size=BATCH_ROWS,
        compute=ray.data.ActorPoolStrategy(size=pool.actors),
        num_gpus=pool.gpus_per_actor,
        num_cpus=pool.cpus_per_actor,
    )
    sink = open_sink(target)
    errors_file = errors_path(target)
    summary = BulkSummary()
    with errors_file.open("w", encoding="utf-8") as errors:
        for batch in scored.iter_batches(batch_format="pyarrow", batch_size=None):
            good = []
            for row in batch.to_pylist():
                message = row.pop(ERROR, None)
                if message is not None and settings.on_error == "stop":
                    sink.write(good)
                    sink.commit()
                    raise InvalidInputError(
                        f"row {summary.rows}: {message}. The rows before it are in {target}; rerun with "
                        "--on-error skip to go past it, or fix the input"
                    )
                summary.rows += 1
                if message is None:
                    good.append(row)
                    summary.truncated += bool(row.get("truncated"))
                else:
                    summary.skipped += 1
                    errors.write(
                        json.dumps({"row": summary.rows - 1, "error": message, "input": row}, default=str) + "\n"
                    )
            summary.scored += len(good)
            sink.write(good)
            sink.commit()
    sink.close()
    if not summary.skipped:
        errors_file.unlink()
    summary.seconds = time.perf_counter() - started
    summary.complete = True
    return summary
