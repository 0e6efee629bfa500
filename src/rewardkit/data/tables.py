"""Tables streamed in bounded chunks (bulk scoring): JSON Lines (gzipped too), Parquet, CSV and Hugging
Face ``datasets`` folders (``save_to_disk``) in; JSON Lines, Parquet and CSV out.

A Source yields rows from any row index on, each with where it came from (``file:line`` or
``file row N``) and, for a line that is not a JSON object, the error instead of the row, so the caller
decides whether to stop or skip. A Sink writes chunks and commits them: after ``commit`` the chunk is
on disk (fsync) and the returned state, kept by the caller, lets a new Sink drop anything written
after it. JSON Lines and CSV append (a gzipped output is one gzip member per chunk, which every gzip
reader reads as one stream); Parquet writes a part file per chunk and joins them at ``close``,
keeping the parts until `tidy_output` (the caller records the output as finished in between).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardkit.errors import InvalidInputError

__all__ = [
    "INPUT_KINDS",
    "OUTPUT_KINDS",
    "Sink",
    "Source",
    "discard_output",
    "files_under",
    "listing_digest",
    "open_sink",
    "open_source",
    "table_kind",
    "tidy_output",
]

INPUT_KINDS = {".jsonl": "jsonl", ".jsonl.gz": "jsonl", ".json.gz": "jsonl", ".parquet": "parquet", ".csv": "csv"}
INPUT_KINDS |= {".csv.gz": "csv"}
OUTPUT_KINDS = {".jsonl": "jsonl", ".jsonl.gz": "jsonl", ".parquet": "parquet", ".csv": "csv"}

Item = tuple[str, dict[str, Any] | InvalidInputError]


def table_kind(path: Path, *, reading: bool) -> str:
    """The format a path names by its suffix (a folder is a ``datasets`` folder when reading)."""
    if reading and path.is_dir():
        return "hf"
    kinds = INPUT_KINDS if reading else OUTPUT_KINDS
    for suffix, kind in sorted(kinds.items(), key=lambda kv: -len(kv[0])):
        if path.name.endswith(suffix):
            return kind
    folder = " or a datasets folder (save_to_disk)" if reading else ""
    raise InvalidInputError(f"{path}: unknown table format; name a file ending in {', '.join(kinds)}{folder}")


# ----------------------------------------------------------------------------------------------- reading


def files_under(path: Path) -> list[Path]:
    """``path`` itself, or every file under a folder, sorted."""
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def listing_digest(path: Path) -> Any:
    """A sha256 over the name (relative to ``path``'s parent), size and modification time of every
    file in ``files_under(path)``: what identifies a file or folder without reading it; callers add
    whatever content they also hash."""
    import hashlib

    digest = hashlib.sha256()
    for file in files_under(path):
        stat = file.stat()
        digest.update(f"{file.relative_to(path.parent)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest


@dataclass(frozen=True)
class Source:
    """One input table. ``rows(start)`` yields (where, row or error) from row index ``start`` on."""

    path: Path
    kind: str

    def rows(self, start: int = 0) -> Iterator[Item]:
        reader = {"jsonl": self._jsonl, "csv": self._csv, "parquet": self._parquet, "hf": self._hf}[self.kind]
        return reader(start)

    def count(self) -> int | None:
        """Rows in the table when known without reading it (Parquet, datasets), else None."""
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(self.path).metadata.num_rows)
        if self.kind == "hf":
            return len(self.dataset())
        return None

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this input for a resumed run: its files' names, sizes and modification
        times, and a hash of each file's first and last MiB."""
        digest = listing_digest(self.path)
        for file in files_under(self.path):
            with file.open("rb") as f:
                digest.update(f.read(1 << 20))
                if file.stat().st_size > 2 << 20:
                    f.seek(-(1 << 20), os.SEEK_END)
                    digest.update(f.read())
        return {"path": str(self.path.resolve()), "kind": self.kind, "sha256": digest.hexdigest()}

    def _text(self) -> io.TextIOBase:
        if self.path.name.endswith(".gz"):
            return gzip.open(self.path, "rt", encoding="utf-8", newline="")  # type: ignore[return-value]
        return self.path.open("r", encoding="utf-8", newline="")

    def _jsonl(self, start: int) -> Iterator[Item]:
        index = 0
        with self._text() as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                if index >= start:
                    where = f"{self.path}:{number}"
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        yield where, InvalidInputError(f"{where}: not JSON ({exc.msg} at column {exc.colno})")
                    else:
                        good = isinstance(row, dict)
                        yield where, row if good else InvalidInputError(f"{where}: not a JSON object")
                index += 1

    def _csv(self, start: int) -> Iterator[Item]:
        with self._text() as f:
            reader = csv.DictReader(f)
            for index, row in enumerate(reader):
                if index >= start:
                    yield f"{self.path}:{reader.line_num}", dict(row)

    def _parquet(self, start: int) -> Iterator[Item]:
        import pyarrow.parquet as pq

        table = pq.ParquetFile(self.path)
        skipped = 0
        for group in range(table.num_row_groups):
            size = table.metadata.row_group(group).num_rows
            if skipped + size <= start:
                skipped += size
                continue
            for batch in table.iter_batches(batch_size=1024, row_groups=[group]):
                for offset, row in enumerate(batch.to_pylist()):
                    index = skipped + offset
                    if index >= start:
                        yield f"{self.path} row {index}", row
                skipped += batch.num_rows

    def dataset(self) -> Any:
        """The ``datasets`` Dataset of an ``hf`` source (one split)."""
        import datasets

        try:
            loaded = datasets.load_from_disk(str(self.path))
        except (FileNotFoundError, ValueError) as exc:
            raise InvalidInputError(f"{self.path}: not a datasets folder written by save_to_disk ({exc})") from None
        if isinstance(loaded, datasets.DatasetDict):
            if len(loaded) != 1:
                splits = ", ".join(loaded)
                raise InvalidInputError(
                    f"{self.path}: holds the splits {splits}; name one, e.g. {self.path}/{next(iter(loaded))}"
                )
            loaded = next(iter(loaded.values()))
        return loaded

    def _hf(self, start: int) -> Iterator[Item]:
        dataset = self.dataset()
        for first in range(start, len(dataset), 1024):
            columns = dataset[first : first + 1024]
            names = list(columns)
            for offset, values in enumerate(zip(*(columns[n] for n in names))):
                yield f"{self.path} row {first + offset}", dict(zip(names, values))


def open_source(path: Path) -> Source:
    """The Source for ``path``; a missing file is an InvalidInputError."""
    if not path.exists():
        raise InvalidInputError(f"{path}: no such file or folder")
    return Source(path, table_kind(path, reading=True))


# ----------------------------------------------------------------------------------------------- writing


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Sink(ABC):
    """Chunks out, committed one at a time. ``state`` (from an earlier ``commit``) resumes: whatever
    was written after that commit is dropped. Subclasses write one format."""

    def __init__(self, path: Path, state: dict[str, Any] | None) -> None:
        self.path = path
        self.state = dict(state or {})

    @abstractmethod
    def write(self, rows: list[dict[str, Any]]) -> None:
        """Write ``rows`` after what is there (durable only once committed)."""

    @abstractmethod
    def commit(self) -> dict[str, Any]:
        """Make everything written so far durable; returns the state to resume from."""

    @abstractmethod
    def close(self) -> None:
        """Finish the output (after the last commit). What was kept beside it to build it stays until
        `tidy_output`, so that finishing again after a crash gives the same output."""


class _AppendSink(Sink):
    """Appends bytes; the state is the committed length, and resuming truncates to it."""

    def __init__(self, path: Path, state: dict[str, Any] | None) -> None:
        super().__init__(path, state)
        committed = int(self.state.get("bytes", 0))
        if committed:
            with path.open("r+b") as f:
                f.truncate(committed)
        else:
            path.write_bytes(b"")
        self._file = path.open("ab")

    @abstractmethod
    def encode(self, rows: list[dict[str, Any]]) -> bytes:
        """The bytes that ``rows`` add to the file."""

    def write(self, rows: list[dict[str, Any]]) -> None:
        data = self.encode(rows)
        self._file.write(gzip.compress(data, mtime=0) if self.path.name.endswith(".gz") else data)

    def commit(self) -> dict[str, Any]:
        self._file.flush()
        os.fsync(self._file.fileno())
        self.state["bytes"] = self._file.tell()
        return dict(self.state)

    def close(self) -> None:
        self._file.close()


class JsonlSink(_AppendSink):
    def encode(self, rows: list[dict[str, Any]]) -> bytes:
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


class CsvSink(_AppendSink):
    """Lists and objects (objectives, steps, nested input fields) are written as JSON text. The header
    is the first chunk's columns; a later row with a column outside it is refused."""

    def encode(self, rows: list[dict[str, Any]]) -> bytes:
        columns = self.state.get("columns")
        out = io.StringIO()
        if columns is None:
            columns = list(dict.fromkeys(key for row in rows for key in row))
            self.state["columns"] = columns
            csv.writer(out).writerow(columns)
        writer = csv.DictWriter(out, columns, restval="")
        for row in rows:
            extra = set(row) - set(columns)
            if extra:
                raise InvalidInputError(
                    f"a row has columns {sorted(extra)} that the CSV header ({', '.join(columns)}) lacks; "
                    "rows with varying columns need a .jsonl or .parquet output"
                )
            writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in row.items()})
        return out.getvalue().encode()


class ParquetSink(Sink):
    """A part file per chunk in ``OUT.parts/`` (the state counts the committed ones); ``close`` joins
    them into OUT one part at a time, under one schema that every part's columns fit, and
    `tidy_output` removes them."""

    def __init__(self, path: Path, state: dict[str, Any] | None) -> None:
        super().__init__(path, state)
        self.parts = path.with_name(path.name + ".parts")
        self.parts.mkdir(exist_ok=True)
        committed = int(self.state.get("parts", 0))
        for stale in self.parts.glob("part-*.parquet"):
            if int(stale.stem.split("-")[1]) >= committed:
                stale.unlink()
        self._pending: list[Path] = []

    def _part(self, number: int) -> Path:
        return self.parts / f"part-{number:06d}.parquet"

    def write(self, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not rows:
            return
        part = self._part(int(self.state.get("parts", 0)) + len(self._pending))
        pq.write_table(pa.Table.from_pylist(rows), part)
        self._pending.append(part)

    def commit(self) -> dict[str, Any]:
        for part in self._pending:
            _sync(part)
        self.state["parts"] = int(self.state.get("parts", 0)) + len(self._pending)
        self._pending = []
        return dict(self.state)

    def close(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts = [self._part(n) for n in range(int(self.state.get("parts", 0)))]
        schema = pa.unify_schemas([pq.read_schema(p) for p in parts], promote_options="permissive") if parts else None
        partial = self.path.with_name(self.path.name + ".partial")
        with pq.ParquetWriter(partial, schema or pa.schema([])) as writer:
            for part in parts:
                table = pq.read_table(part)
                for field in schema or []:
                    if field.name not in table.column_names:
                        table = table.append_column(field, pa.nulls(len(table), field.type))
                writer.write_table(table.select(schema.names).cast(schema))
        os.replace(partial, self.path)


def open_sink(path: Path, state: dict[str, Any] | None = None) -> Sink:
    """The Sink for ``path`` by its suffix, resuming from ``state`` when given."""
    kind = table_kind(path, reading=False)
    return {"jsonl": JsonlSink, "csv": CsvSink, "parquet": ParquetSink}[kind](path, state)


def tidy_output(path: Path) -> None:
    """Remove what a Sink kept beside a finished output (Parquet's part files); call it once the output
    is recorded as finished."""
    parts = path.with_name(path.name + ".parts")
    if parts.is_dir():
        for part in parts.glob("*"):
            part.unlink()
        parts.rmdir()


def discard_output(path: Path) -> None:
    """Remove an output and whatever a Sink kept beside it (a run that starts over)."""
    path.unlink(missing_ok=True)
    tidy_output(path)
