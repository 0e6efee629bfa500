"""`rewardkit score`: a table in, the same rows with scores out, streamed and resumable, on either backend.

Rows are read in chunks of ``chunk_rows`` (constant memory whatever the input size), each chunk
encoded and scored by a ChunkScorer (``LocalScorer`` in this process; ``ray_bulk.RayScorer`` on Ray
actors), batched by the model's own planner within the chunk and written back in input order. Both
backends run the one loop below, so they share the commit protocol, the resume and the files beside
the output:

- ``OUT.progress.json``: what identifies the run (input, model, settings), rows done, the output's
  committed state and the error file's length. A fresh run writes it (at row 0) before it creates
  the output, and after each chunk the output, the error file and then this record are made durable,
  so a run killed at any point, and started again with the same command, continues after the last
  commit with no row lost or written twice, and writes the bytes an uninterrupted run writes.
- ``OUT.manifest.json``: the same identity plus counts, versions and times, written once the output
  is finished; the progress record is removed after it.
- ``OUT.errors.jsonl``: rows skipped with ``--on-error skip``, and why.

A run whose input, model or settings differ from the recorded ones is refused, naming what differs,
unless ``overwrite`` (``--restart``) starts it over. What only changes how rows are batched
(``--chunk-rows``, ``--max-batch-tokens``, the device, packing, the fused forward, the backend and its
actors) may change between runs; the scores then differ by float noise at most.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from rewardkit._version import __version__
from rewardkit.data.files import atomic_path
from rewardkit.data.tables import Sink, Source, discard_output, listing_digest, open_sink, open_source, tidy_output
from rewardkit.errors import InvalidInputError, RewardKitError
from rewardkit.scoring.model import RewardModel
from rewardkit.scoring.steps import ScoreConversations, ScoreTexts
from rewardkit.templating import validate_conversation
from rewardkit.types import Conversation, ScoreResult, TokenizedItem, with_answer

__all__ = [
    "BulkSettings",
    "BulkSummary",
    "ChunkScorer",
    "Columns",
    "LocalScorer",
    "ModelFacts",
    "check_resumable",
    "describe_model",
    "differences",
    "encode_row",
    "encode_rows",
    "errors_path",
    "score_file",
    "score_rows",
    "score_table",
    "score_table_with",
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
            return validate_conversation(with_answer(prompt, response))
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
    """Rows read, scored and committed at a time (memory holds about two chunks; on Ray the driver
    holds two per actor)."""
    on_error: OnError = "stop"
    overwrite: bool = False
    """Start over (``--restart``): discard the output and what is kept beside it."""


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


# ------------------------------------------------------------------------------------- scoring a chunk

Row = dict[str, Any] | InvalidInputError
"""A row as a Source yields it: the row, or why it could not be read."""
Outcome = ScoreResult | RewardKitError
"""A row's score, or why it has none (an InvalidInputError for the row, a ModelOutputError for the score)."""


def encode_rows(model: RewardModel, columns: Columns, rows: list[Row]) -> list[TokenizedItem | InvalidInputError]:
    """Each row's sequence, or the error that says why it has none, in order."""
    encoded: list[TokenizedItem | InvalidInputError] = []
    for row in rows:
        if isinstance(row, InvalidInputError):
            encoded.append(row)
            continue
        try:
            encoded.append(encode_row(model, columns, row))
        except InvalidInputError as exc:
            encoded.append(exc)
    return encoded


def score_encoded(model: RewardModel, encoded: list[TokenizedItem | InvalidInputError]) -> list[Outcome]:
    """The outcome of every row of a chunk, in order: the chunk's sequences are batched together."""
    outcomes: list[Outcome | TokenizedItem] = list(encoded)
    positions = [i for i, item in enumerate(encoded) if not isinstance(item, InvalidInputError)]
    for position, outcome in zip(positions, model.outcomes([encoded[i] for i in positions])):  # type: ignore[misc]
        outcomes[position] = outcome
    return outcomes  # type: ignore[return-value]


def score_rows(model: RewardModel, columns: Columns, rows: list[Row]) -> list[Outcome]:
    """Encode and score one chunk (what a Ray actor runs for each chunk it is sent)."""
    return score_encoded(model, encode_rows(model, columns, rows))


@dataclass(frozen=True)
class ModelFacts:
    """What a scorer reports about its loaded model: the run's identity and the manifest's facts."""

    model: dict[str, Any]
    """The checkpoint's fingerprint (`model_fingerprint`)."""
    settings: dict[str, Any]
    """What changes a row's score (`_settings`)."""
    manifest: dict[str, Any]
    """Format, template, dtype, device and versions, for OUT.manifest.json."""
    objectives: bool
    steps: bool


def describe_model(model: RewardModel, columns: Columns) -> ModelFacts:
    import platform

    import torch

    info = model.info
    return ModelFacts(
        model=model_fingerprint(model),
        settings=_settings(model, columns),
        manifest={
            "format": info.format,
            "template": info.template,
            "dtype": info.dtype,
            "device": info.device,
            "versions": {"rewardkit": __version__, "torch": torch.__version__, "python": platform.python_version()},
        },
        objectives=bool(info.outputs),
        steps=bool(info.steps),
    )


class ChunkScorer(Protocol):
    """Scores chunks for `score_table_with`: ``submit`` a chunk's rows, then ``result`` of the handle,
    in the order submitted; up to ``in_flight`` chunks are submitted before the oldest is collected."""

    backend: str
    in_flight: int

    def describe(self) -> ModelFacts: ...

    def submit(self, rows: list[Row]) -> Any: ...

    def result(self, handle: Any) -> list[Outcome]: ...


class LocalScorer:
    """The model in this process. On a GPU the next chunk is tokenized in a thread while this one is
    scored; on a CPU that thread would take cores from the forward itself (measured slower,
    benchmarks/RESULTS.md), so it runs in turn."""

    backend = "local"

    def __init__(self, model: RewardModel, columns: Columns) -> None:
        self.model, self.columns = model, columns
        ahead = model.model.device.type != "cpu"
        self.in_flight = 2 if ahead else 1
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rewardkit-encode") if ahead else None

    def describe(self) -> ModelFacts:
        return describe_model(self.model, self.columns)

    def submit(self, rows: list[Row]) -> Any:
        return self._encoder.submit(encode_rows, self.model, self.columns, rows) if self._encoder else rows

    def result(self, handle: Any) -> list[Outcome]:
        encoded = handle.result() if self._encoder else encode_rows(self.model, self.columns, handle)
        return score_encoded(self.model, encoded)

    def close(self) -> None:
        if self._encoder is not None:
            self._encoder.shutdown(cancel_futures=True)


# ----------------------------------------------------------------------------- identity and the record


def errors_path(target: Path) -> Path:
    """Where skipped rows go, beside the output."""
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


BATCHING_ONLY = ("device", "packing", "fused_forward", "enable_prefix_caching", "prefix_cache_gib", "compile")
"""ModelConfig fields that change how rows are computed, never what a score means."""


def _settings(model: RewardModel, columns: Columns) -> dict[str, Any]:
    """What changes a row's score (not --on-error: a stopped run may continue with skip; not what only
    changes how rows are batched)."""
    config = {k: v for k, v in asdict(model.core.config).items() if k not in BATCHING_ONLY}
    return {
        "columns": asdict(columns),
        "dtype": model.info.dtype,
        "max_length": model.info.max_length,
        "template": hashlib.sha256(model.info.template.encode()).hexdigest()[:16],
        "model_config": json.loads(json.dumps(config, default=str)),
    }


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested dict flattened to dotted names: {"settings": {"dtype": x}} -> {"settings.dtype": x}."""
    if isinstance(value, dict) and value:
        found: dict[str, Any] = {}
        for key, inner in value.items():
            found |= _leaves(inner, f"{prefix}.{key}" if prefix else str(key))
        return found
    return {prefix: value}


def _shown(value: Any) -> str:
    """A value for a message: whole unless very long, then its two ends (where paths differ)."""
    text = repr(value)
    return text if len(text) <= 200 else f"{text[:97]}...{text[-97:]}"


def differences(recorded: dict[str, Any], current: dict[str, Any], *, only_current: bool = False) -> list[str]:
    """What differs between a recorded identity and this run's, one line per value, named by its
    dotted path; with ``only_current``, only the values ``current`` holds are compared (a check made
    before the model is loaded)."""
    old = _leaves({key: recorded.get(key) for key in current})
    new = _leaves(current)
    names = list(new) if only_current else list(dict.fromkeys([*old, *new]))
    changed = [name for name in names if old.get(name) != new.get(name)]
    lines = []
    for name in changed:
        before, after = old.get(name), new.get(name)
        if name.endswith(".sha256") and name.replace(".sha256", ".path") in changed:
            continue  # another file or folder: its path says so
        if name.endswith(".sha256") or name == "settings.template":
            what = {"input": "the input's size, modification time or content", "model": "the checkpoint's files"}
            lines.append(f"{name} ({what.get(name.split('.')[0], 'the chat template')} changed)")
        else:
            lines.append(f"{name}: was {_shown(before)}, now {_shown(after)}")
    return lines


def scored_row(row: dict[str, Any], result: ScoreResult, outputs: bool, steps: bool) -> dict[str, Any]:
    out = {**row, "score": result.score, "truncated": result.truncated}
    if outputs:
        out["objectives"] = dict(result.objectives)
    if steps:
        out["steps"] = list(result.steps or [])
    return out


class _Run:
    """One invocation: where to start, the files beside the output, and the commit protocol."""

    def __init__(self, source: Source, target: Path, identity: dict[str, Any], settings: BulkSettings) -> None:
        self.source, self.target, self.identity, self.settings = source, target, identity, settings
        self.progress_path = _beside(target, ".progress.json")
        self.manifest_path = _beside(target, ".manifest.json")
        self.errors_path = errors_path(target)
        self.record: dict[str, Any] = {}

    def recorded(self) -> tuple[dict[str, Any], str] | None:
        """The finished run's manifest, else the interrupted run's progress record, with what it is."""
        for path, what in ((self.manifest_path, "a finished run"), (self.progress_path, "an interrupted run")):
            if path.exists():
                return json.loads(path.read_text()), what
        return None

    def check_same(self, *, only_current: bool = False) -> None:
        """Refuse (unless starting over) when the recorded run is not this one, naming what differs."""
        found = None if self.settings.overwrite else self.recorded()
        if found is None:
            return
        record, what = found
        changed = differences(record, self.identity, only_current=only_current)
        if changed:
            raise InvalidInputError(
                f"{self.target} holds {what} that differs from this one in: {'; '.join(changed)}. Rerun the "
                "command that started it to continue it, or pass --restart to start over (this replaces "
                f"{self.target.name})"
            )

    def prepare(self) -> bool:
        """Decide between resuming, starting over and refusing; False when the output is already done."""
        if self.settings.overwrite:
            self._discard()
            return True
        self.check_same()
        if self.manifest_path.exists():
            if self.target.exists():
                self._tidy(json.loads(self.manifest_path.read_text()))
                return False
            self._discard()  # finished, then the output was removed: score it again
            return True
        if self.progress_path.exists():
            self.record = json.loads(self.progress_path.read_text())
            return True
        if self.target.exists() and self.target.stat().st_size > 0:  # an empty file holds nothing to lose
            raise InvalidInputError(
                f"{self.target} exists and is not from rewardkit score; pass --overwrite (or --restart) to replace it"
            )
        return True

    def _discard(self) -> None:
        for path in (self.manifest_path, self.progress_path, self.errors_path):
            path.unlink(missing_ok=True)
        discard_output(self.target)

    def _tidy(self, manifest: dict[str, Any]) -> None:
        """What a run killed after writing its manifest may have left beside the output."""
        self.progress_path.unlink(missing_ok=True)
        tidy_output(self.target)
        if not manifest.get("skipped"):
            self.errors_path.unlink(missing_ok=True)

    def start(self) -> Sink:
        """The output, opened where the record says. A fresh run writes its record (at row 0) first, so
        that a kill at any point from here on leaves a run to continue, never a file to refuse."""
        if not self.record:
            self.errors_path.unlink(missing_ok=True)
            self.record = {**self.identity, "rows_done": 0, "scored": 0, "skipped": 0, "truncated": 0}
            self.record |= {"sink": {}, "errors_bytes": 0}
            _write_json_durably(self.progress_path, self.record)
        return open_sink(self.target, self.record["sink"])

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

    def finish(self, sink: Sink, summary: BulkSummary, manifest: dict[str, Any]) -> None:
        """Output whole, then the manifest, then the record and the parts go: a kill between any two
        steps leaves either a run to continue or a finished one."""
        sink.close()
        _write_json_durably(self.manifest_path, manifest)
        self._tidy(manifest)


# ----------------------------------------------------------------------------------------------- the loop


def score_table(
    model: RewardModel,
    source_path: Path,
    target: Path,
    columns: Columns | None = None,
    settings: BulkSettings | None = None,
    *,
    progress: bool = True,
) -> BulkSummary:
    """Score every row of ``source_path`` into ``target`` (formats by their names) in this process; see
    the module."""
    scorer = LocalScorer(model, columns or Columns())
    try:
        return score_table_with(scorer, source_path, target, settings, progress=progress)
    finally:
        scorer.close()


def check_resumable(source_path: Path, target: Path, columns: Columns, settings: BulkSettings | None = None) -> None:
    """Refuse now, before a model is loaded anywhere, a run whose input or columns differ from the run
    recorded beside ``target`` (the rest of the identity is checked once the model is loaded)."""
    source = open_source(source_path)
    identity = {"input": source.fingerprint(), "settings": {"columns": asdict(columns)}}
    _Run(source, target, identity, settings or BulkSettings()).check_same(only_current=True)


def score_table_with(
    scorer: ChunkScorer,
    source_path: Path,
    target: Path,
    settings: BulkSettings | None = None,
    *,
    progress: bool = True,
) -> BulkSummary:
    """Score every row of ``source_path`` into ``target`` with ``scorer``: the one loop both backends run."""
    settings = settings or BulkSettings()
    if settings.chunk_rows < 1:
        raise InvalidInputError(f"--chunk-rows must be at least 1, got {settings.chunk_rows}")
    source = open_source(source_path)
    facts = scorer.describe()
    identity = {"input": source.fingerprint(), "model": facts.model, "settings": facts.settings}
    run = _Run(source, target, identity, settings)
    if not run.prepare():
        done = json.loads(run.manifest_path.read_text())
        return BulkSummary(rows=done["rows"], scored=done["scored"], skipped=done["skipped"], complete=True)
    sink = run.start()
    record = run.record
    summary = BulkSummary(
        rows=record["rows_done"],
        scored=record["scored"],
        skipped=record["skipped"],
        truncated=record["truncated"],
        resumed_at=record["rows_done"],
    )
    started = time.perf_counter()
    try:
        _stream(run, scorer, facts, sink, summary, progress)
    finally:
        summary.seconds = time.perf_counter() - started
    run.finish(sink, summary, _manifest(run, scorer, facts, summary))
    summary.complete = True
    return summary


@dataclass
class _Chunk:
    """One chunk as read: each row (or why it could not be read) and where it came from."""

    rows: list[Row] = field(default_factory=list)
    wheres: list[str] = field(default_factory=list)


def _chunks(source: Source, start: int, size: int) -> Iterator[_Chunk]:
    rows = source.rows(start)
    while True:
        chunk = _Chunk()
        for where, row in rows:
            chunk.rows.append(row)
            chunk.wheres.append(where)
            if len(chunk.rows) >= size:
                break
        if chunk.rows:
            yield chunk
        if len(chunk.rows) < size:
            return


def _stream(
    run: _Run, scorer: ChunkScorer, facts: ModelFacts, sink: Sink, summary: BulkSummary, progress: bool
) -> None:
    from tqdm.auto import tqdm

    pending: deque[tuple[_Chunk, Any]] = deque()
    with tqdm(total=run.source.count(), initial=summary.rows, disable=not progress, unit="row", desc="scoring") as bar:

        def collect() -> None:
            chunk, handle = pending.popleft()
            _commit_chunk(run, sink, chunk, scorer.result(handle), facts, summary)
            bar.update(len(chunk.rows))
            bar.set_postfix_str(f"{summary.tokens / max(bar.format_dict['elapsed'], 1e-9):,.0f} tok/s", refresh=False)

        for chunk in _chunks(run.source, summary.rows, run.settings.chunk_rows):
            pending.append((chunk, scorer.submit(chunk.rows)))
            if len(pending) >= scorer.in_flight:
                collect()
        while pending:
            collect()


def _commit_chunk(
    run: _Run, sink: Sink, chunk: _Chunk, outcomes: list[Outcome], facts: ModelFacts, summary: BulkSummary
) -> None:
    """Write a scored chunk in input order and commit it; with --on-error stop, a bad row ends the run
    after the rows before it are committed."""
    written, errors = [], []
    consumed, failure = len(chunk.rows), None
    for position, (where, row, outcome) in enumerate(zip(chunk.wheres, chunk.rows, outcomes)):
        if isinstance(outcome, RewardKitError):
            message = str(outcome) if str(outcome).startswith(where) else f"{where}: {outcome}"
            if run.settings.on_error == "stop":
                consumed, failure = position, message
                break
            errors.append({"where": where, "error": message, "input": row})
            continue
        written.append(scored_row(row, outcome, facts.objectives, facts.steps))  # type: ignore[arg-type]
        summary.tokens += outcome.num_tokens
        summary.truncated += outcome.truncated
    sink.write(written)
    summary.rows += consumed
    summary.scored += len(written)
    summary.skipped += len(errors)
    run.commit(sink, errors, summary)
    if failure is not None:
        raise InvalidInputError(
            f"{failure}. The {summary.rows} rows before it are committed in {run.target}: rerun with "
            "--on-error skip to continue past it (it goes to OUT.errors.jsonl), or fix the input and rerun "
            "with --restart"
        )


def _manifest(run: _Run, scorer: ChunkScorer, facts: ModelFacts, summary: BulkSummary) -> dict[str, Any]:
    return {
        **run.identity,
        "output": str(run.target),
        **facts.manifest,
        "backend": scorer.backend,
        "rows": summary.rows,
        "scored": summary.scored,
        "skipped": summary.skipped,
        "truncated": summary.truncated,
        "errors_file": str(run.errors_path) if summary.skipped else None,
        "seconds_last_run": round(summary.seconds, 3),
        "resumed_at": summary.resumed_at,
    }


def score_file(model: RewardModel, source: Path, target: Path, *, progress: bool = True) -> int:
    """Score ``source`` into ``target`` with the default columns and settings, starting over; returns
    the number of rows written."""
    summary = score_table(model, source, target, settings=BulkSettings(overwrite=True), progress=progress)
    return summary.scored
