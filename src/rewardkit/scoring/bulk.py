"""`rewardkit score`: a table in, the same rows with scores out, streamed and resumable.

Rows are read, encoded and scored in chunks of ``chunk_rows`` (constant memory whatever the input
size; on a GPU the next chunk is read and tokenized while this one is scored), batched by the model's own
planner within a chunk and written back in input order. After each chunk the output, the error file
and ``OUT.progress.json`` (rows done, the output's committed state, and what identifies the run:
input, model, settings) are made durable in that order, so a run killed at any point and started
again with the same command continues after the last commit with no row lost or written twice. A
run with another input, model or settings is refused unless ``overwrite``. At the end the output is
finished, ``OUT.manifest.json`` written and the progress record removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from rewardkit._version import __version__
from rewardkit.data.files import atomic_path
from rewardkit.data.tables import Sink, Source, listing_digest, open_sink, open_source
from rewardkit.errors import InvalidInputError, ModelOutputError
from rewardkit.scoring.model import RewardModel
from rewardkit.scoring.steps import ScoreConversations, ScoreTexts
from rewardkit.templating import validate_conversation
from rewardkit.types import Conversation, ScoreResult, TokenizedItem

__all__ = [
    "BulkSettings",
    "BulkSummary",
    "Columns",
    "encode_row",
    "errors_path",
    "score_file",
    "score_table",
    "scored_row",
]

OnError = Literal["stop", "skip"]


@dataclass(frozen=True)
class Columns:
    """Which columns hold what to score. By default a row's ``messages``, else ``text``, else ``query``
    (the first that is not null); ``prompt`` + ``response`` are templated as a user turn and the
    assistant's answer."""

    text: str | None = None
    messages: str | None = None
    prompt: str | None = None
    response: str | None = None

    def __post_init__(self) -> None:
        if (self.prompt is None) != (self.response is None):
            raise InvalidInputError("--prompt-field and --response-field go together")
        given = [n for n in (self.text, self.messages, self.prompt) if n is not None]
        if len(given) > 1:
            raise InvalidInputError("pick one of --text-field, --messages-field, --prompt-field/--response-field")

    def value(self, row: dict[str, Any]) -> str | Conversation:
        """What ``row`` asks to score (an InvalidInputError says which column is wrong)."""
        if self.prompt is not None and self.response is not None:
            prompt, response = (_string(row, self.prompt), _string(row, self.response))
            return validate_conversation(
                [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
            )
        if self.messages is not None:
            return validate_conversation(_present(row, self.messages))
        if self.text is not None:
            return _string(row, self.text)
        for key in ("messages", "text", "query"):  # a null counts as absent (tables give missing cells as nulls)
            if row.get(key) is not None:
                return validate_conversation(row[key]) if key == "messages" else _string(row, key)
        columns = ", ".join(map(repr, list(row)[:8]))
        raise InvalidInputError(
            f"no 'text', 'query' or 'messages' value (the row has {columns}); name one with --text-field, "
            "--messages-field or --prompt-field/--response-field"
        )


def encode_row(model: RewardModel, columns: Columns, row: dict[str, Any]) -> TokenizedItem:
    """The one sequence ``row`` asks to score, through the scoring core (its checks and template)."""
    value = columns.value(row)
    step = ScoreTexts([value]) if isinstance(value, str) else ScoreConversations([value])
    (item,) = model.core.encode(step)
    return item


def _present(row: dict[str, Any], key: str) -> Any:
    if key not in row:
        raise InvalidInputError(f"no '{key}' column")
    return row[key]


def _string(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if not isinstance(value, str):
        got = "missing" if key not in row else f"a {type(value).__name__}"
        raise InvalidInputError(f"column '{key}' must be a string ({got})")
    return value


@dataclass(frozen=True)
class BulkSettings:
    chunk_rows: int = 2048
    """Rows read, scored and committed at a time (memory holds about two chunks)."""
    on_error: OnError = "stop"
    overwrite: bool = False


@dataclass
class BulkSummary:
    rows: int = 0
    """Input rows done (scored or skipped), over every run of this output."""
    scored: int = 0
    skipped: int = 0
    truncated: int = 0
    tokens: int = 0
    seconds: float = 0.0
    resumed_at: int = 0
    """The row this run started from (0 unless it continued an interrupted one)."""
    complete: bool = False


@dataclass
class _Chunk:
    """One chunk, read and encoded: the rows, what each one scores, and the bad ones."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    wheres: list[str] = field(default_factory=list)
    items: list[TokenizedItem] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    failure: InvalidInputError | None = None
    """With --on-error stop, the first bad row: the chunk holds only the rows before it."""
    consumed: int = 0


def errors_path(target: Path) -> Path:
    """Where skipped rows go, beside the output (both backends)."""
    return target.with_name(target.name + ".errors.jsonl")


def _beside(target: Path, suffix: str) -> Path:
    return target.with_name(target.name + suffix)


def _write_json_durably(path: Path, value: dict[str, Any]) -> None:
    """Through `atomic_path`, synced to disk before the rename (the progress record is a commit)."""
    with atomic_path(path) as partial, partial.open("w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)
        f.flush()
        os.fsync(f.fileno())


def model_fingerprint(model: RewardModel) -> dict[str, Any]:
    """What identifies the weights without reading them all: config.json's hash and every file's
    name, size and modification time."""
    folder = Path(model.info.path)
    digest = listing_digest(folder)
    config = folder / "config.json"
    if config.exists():
        digest.update(config.read_bytes())
    return {"path": str(folder), "format": model.info.format, "sha256": digest.hexdigest()}


def _settings(model: RewardModel, columns: Columns) -> dict[str, Any]:
    """What changes a row's score (not --on-error: a stopped run may continue with skip)."""
    config = {k: v for k, v in asdict(model.core.config).items() if k not in ("device", "packing", "compile")}
    return {
        "columns": asdict(columns),
        "dtype": model.info.dtype,
        "max_length": model.info.max_length,
        "template": hashlib.sha256(model.info.template.encode()).hexdigest()[:16],
        "model_config": json.loads(json.dumps(config, default=str)),
    }


def scored_row(row: dict[str, Any], result: ScoreResult, outputs: bool, steps: bool) -> dict[str, Any]:
    out = {**row, "score": result.score, "truncated": result.truncated}
    if outputs:
        out["objectives"] = dict(result.objectives)
    if steps:
        out["steps"] = list(result.steps or [])
    return out


class _Run:
    """One invocation: where to start, the files beside the output, and the commit protocol."""

    def __init__(
        self, model: RewardModel, source: Source, target: Path, identity: dict[str, Any], settings: BulkSettings
    ):
        self.model, self.source, self.target, self.identity, self.settings = model, source, target, identity, settings
        self.progress_path = _beside(target, ".progress.json")
        self.manifest_path = _beside(target, ".manifest.json")
        self.errors_path = errors_path(target)
        self.record: dict[str, Any] = {}

    def prepare(self) -> bool:
        """Decide between resuming, starting over and refusing; False when the output is already done."""
        if self.settings.overwrite:
            for path in (self.progress_path, self.manifest_path, self.errors_path):
                path.unlink(missing_ok=True)
            open_sink(self.target).discard()
            return True
        if self.progress_path.exists():
            record = json.loads(self.progress_path.read_text())
            self._check_same(record, "an interrupted run")
            self.record = record
            return True
        if self.manifest_path.exists():
            manifest = json.loads(self.manifest_path.read_text())
            self._check_same(manifest, "a finished run")
            return not self.target.exists()
        if self.target.exists():
            raise InvalidInputError(
                f"{self.target} exists and is not from rewardkit score; pass --overwrite to replace it"
            )
        return True

    def _check_same(self, record: dict[str, Any], what: str) -> None:
        changed = [key for key in ("input", "model", "settings") if record.get(key) != self.identity[key]]
        if changed:
            raise InvalidInputError(
                f"{self.target} holds {what} with a different {' and '.join(changed)}; rerun with the same command "
                "to continue it, or pass --overwrite to start over"
            )

    def commit(self, sink: Sink, errors: list[dict[str, Any]], summary: BulkSummary) -> None:
        state = sink.commit()
        with self.errors_path.open("ab") as f:
            f.truncate(int(self.record.get("errors_bytes", 0)))
            for error in errors:
                f.write((json.dumps(error, ensure_ascii=False, default=str) + "\n").encode())
            f.flush()
            os.fsync(f.fileno())
            errors_bytes = f.tell()
        self.record = {
            **self.identity,
            "rows_done": summary.rows,
            "scored": summary.scored,
            "skipped": summary.skipped,
            "truncated": summary.truncated,
            "sink": state,
            "errors_bytes": errors_bytes,
        }
        _write_json_durably(self.progress_path, self.record)


def score_table(
    model: RewardModel,
    source_path: Path,
    target: Path,
    columns: Columns | None = None,
    settings: BulkSettings | None = None,
    *,
    progress: bool = True,
) -> BulkSummary:
    """Score every row of ``source_path`` into ``target`` (formats by their names); see the module."""
    columns, settings = columns or Columns(), settings or BulkSettings()
    if settings.chunk_rows < 1:
        raise InvalidInputError(f"--chunk-rows must be at least 1, got {settings.chunk_rows}")
    source = open_source(source_path)
    identity = {
        "input": source.fingerprint(),
        "model": model_fingerprint(model),
        "settings": _settings(model, columns),
    }
    run = _Run(model, source, target, identity, settings)
    if not run.prepare():
        done = json.loads(run.manifest_path.read_text())
        return BulkSummary(rows=done["rows"], scored=done["scored"], skipped=done["skipped"], complete=True)
    record = run.record
    summary = BulkSummary(
        rows=record.get("rows_done", 0),
        scored=record.get("scored", 0),
        skipped=record.get("skipped", 0),
        truncated=record.get("truncated", 0),
        resumed_at=record.get("rows_done", 0),
    )
    if not record:
        run.errors_path.unlink(missing_ok=True)
    sink = open_sink(target, record.get("sink"))
    started = time.perf_counter()
    try:
        _stream(run, sink, columns, summary, progress)
    finally:
        summary.seconds = time.perf_counter() - started
    sink.close()
    _write_json_durably(run.manifest_path, _manifest(run, summary))
    run.progress_path.unlink(missing_ok=True)
    if summary.skipped == 0:
        run.errors_path.unlink(missing_ok=True)
    summary.complete = True
    return summary


def _chunks(run: _Run, columns: Columns, start: int) -> Iterator[_Chunk]:
    rows = run.source.rows(start)
    stop = run.settings.on_error == "stop"
    while True:
        chunk = _Chunk()
        for where, row in rows:
            try:
                if isinstance(row, InvalidInputError):
                    raise row
                item = encode_row(run.model, columns, row)
            except InvalidInputError as exc:
                message = str(exc) if str(exc).startswith(where) else f"{where}: {exc}"
                if stop:
                    chunk.failure = InvalidInputError(message)
                    break
                chunk.errors.append({"where": where, "error": message, "input": row})
                chunk.consumed += 1
            else:
                chunk.rows.append(row)  # type: ignore[arg-type]
                chunk.wheres.append(where)
                chunk.items.append(item)
                chunk.consumed += 1
            if chunk.consumed >= run.settings.chunk_rows:
                break
        if chunk.consumed or chunk.failure:
            yield chunk
        if chunk.failure or chunk.consumed < run.settings.chunk_rows:
            return


def _stream(run: _Run, sink: Sink, columns: Columns, summary: BulkSummary, progress: bool) -> None:
    from tqdm.auto import tqdm

    info = run.model.info
    outputs, steps = bool(info.outputs), bool(info.steps)
    chunks = _chunks(run, columns, summary.rows)
    total = run.source.count()
    # On a GPU the next chunk is read and tokenized while this one is scored; on a CPU that thread would
    # take cores from the forward itself (measured slower, benchmarks/RESULTS.md), so it runs in turn.
    ahead = run.model.model.device.type != "cpu"
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="rewardkit-read") as reader,
        tqdm(total=total, initial=summary.rows, disable=not progress, unit="row", desc="scoring") as bar,
    ):
        pending = reader.submit(next, chunks, None) if ahead else None
        while (chunk := pending.result() if pending else next(chunks, None)) is not None:
            if ahead:
                pending = reader.submit(next, chunks, None)
            outcomes = run.model.outcomes(chunk.items)
            written = []
            for position, (row, item, outcome) in enumerate(zip(chunk.rows, chunk.items, outcomes)):
                if isinstance(outcome, ModelOutputError):
                    where = chunk.wheres[position]
                    if run.settings.on_error == "stop":  # keep the rows before it, as for a bad input row
                        chunk.failure = InvalidInputError(f"{where}: {outcome}")
                        chunk.consumed = position
                        break
                    chunk.errors.append({"where": where, "error": f"{where}: {outcome}", "input": row})
                    continue
                written.append(scored_row(row, outcome, outputs, steps))
                summary.tokens += item.length
                summary.truncated += outcome.truncated
            sink.write(written)
            summary.rows += chunk.consumed
            summary.scored += len(written)
            summary.skipped += len(chunk.errors)
            run.commit(sink, chunk.errors, summary)
            bar.update(chunk.consumed)
            bar.set_postfix_str(f"{summary.tokens / max(bar.format_dict['elapsed'], 1e-9):,.0f} tok/s", refresh=False)
            if chunk.failure is not None:
                raise InvalidInputError(
                    f"{chunk.failure}. The {summary.rows} rows before it are committed in {run.target}: rerun with "
                    "--on-error skip to continue past it (it goes to OUT.errors.jsonl), or fix the input and rerun "
                    "with --overwrite"
                )


def _manifest(run: _Run, summary: BulkSummary) -> dict[str, Any]:
    import platform

    import torch

    info = run.model.info
    return {
        **run.identity,
        "output": str(run.target),
        "format": info.format,
        "template": info.template,
        "dtype": info.dtype,
        "device": info.device,
        "rows": summary.rows,
        "scored": summary.scored,
        "skipped": summary.skipped,
        "truncated": summary.truncated,
        "errors_file": str(run.errors_path) if summary.skipped else None,
        "seconds_last_run": round(summary.seconds, 3),
        "resumed_at": summary.resumed_at,
        "versions": {"rewardkit": __version__, "torch": torch.__version__, "python": platform.python_version()},
    }


def score_file(model: RewardModel, source: Path, target: Path, *, progress: bool = True) -> int:
    """Score ``source`` into ``target`` with the default columns and settings, starting over; returns
    the number of rows written."""
    summary = score_table(model, source, target, settings=BulkSettings(overwrite=True), progress=progress)
    return summary.scored
