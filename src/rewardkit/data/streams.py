"""Benchmark rows streamed one at a time: JSON lists and JSON Lines (gzipped too), Parquet, folders of
them, or a Hugging Face ``datasets`` name. A stream can be read twice (checked whole, then scored)
without ever holding the file: a JSON list is decoded object by object from a bounded buffer.

Each row comes with where it is (``file row N (line L)``, ``file row N`` for Parquet, ``name row N``
for a ``datasets`` name; N counts from 1) and the file it came from. `check_rows` reads a stream once
through a format's row reader, keeping only what the reader's caller asks to keep of each row, so
that a bad row anywhere is an error before any scoring starts. `AnswerSetRow` and `answer_list` are
what the benchmarks' rows of one prompt and several answers share; beyond that, knows nothing about
what rows mean.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

from rewardkit.errors import InvalidInputError

__all__ = ["SUFFIXES", "AnswerSetRow", "CheckedRows", "Located", "RowStream", "answer_list", "check_rows", "open_rows"]

SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz", ".parquet")
CHUNK = 1 << 20
"""Characters read at a time from a JSON list."""

_HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_SEPARATORS = re.compile(r"[\s,]*")

T = TypeVar("T")
M = TypeVar("M")


@dataclass(frozen=True)
class Located:
    """One row and where it is: ``where`` for messages, ``file`` the file it came from (None for a
    ``datasets`` name)."""

    where: str
    file: Path | None
    row: dict[str, Any]


@dataclass(frozen=True)
class RowStream:
    """The rows of ``files`` in order, or of the ``dataset`` name's ``split``."""

    files: tuple[Path, ...] = ()
    dataset: str | None = None
    split: str = "test"

    @property
    def names(self) -> list[str]:
        return [str(f) for f in self.files] or [f"{self.dataset} ({self.split} split)"]

    def __iter__(self) -> Iterator[Located]:
        if self.dataset is not None:
            yield from _dataset_rows(self.dataset, self.split)
        for path in self.files:
            if path.name.endswith(".parquet"):
                yield from _parquet_rows(path)
            else:
                yield from _json_rows(path)


def open_rows(paths: Sequence[str | Path], *, dataset_names: bool = False, split: str = "test") -> RowStream:
    """The stream of files and folders (every data file under a folder, sorted by name); with
    ``dataset_names``, a single argument that is no file but looks like ``owner/name`` is read as
    a Hugging Face ``datasets`` name (which needs the machine to be online, or the dataset cached)."""
    if not paths:
        raise InvalidInputError("name at least one data file or folder")
    if dataset_names and len(paths) == 1:
        name = str(paths[0])
        if not Path(name).exists() and _HUB_NAME.fullmatch(name) and not name.endswith(SUFFIXES):
            return RowStream(dataset=name, split=split)
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))
            if not found:
                raise InvalidInputError(f"{path}: no data files here (looked for {', '.join(SUFFIXES)})")
            files.extend(found)
        elif path.is_file():
            if not path.name.endswith(SUFFIXES):
                raise InvalidInputError(f"{path}: not a data file; name one ending in {', '.join(SUFFIXES)}")
            files.append(path)
        else:
            raise InvalidInputError(f"{path}: no such file or folder")
    return RowStream(files=tuple(files))


# ------------------------------------------------------------------------------------------ checking


@dataclass(frozen=True)
class CheckedRows(Generic[T, M]):
    """A stream whose every row passed ``read``: ``meta[k]`` is what was kept of the k-th row taken,
    ``positions`` the stream positions taken (None: every row). Iterating reads the stream again
    and yields the rows taken, read, in order."""

    stream: RowStream
    read: Callable[[Located], T]
    meta: list[M]
    positions: tuple[int, ...] | None = None

    def __len__(self) -> int:
        return len(self.meta)

    def __iter__(self) -> Iterator[T]:
        wanted = None if self.positions is None else iter(self.positions)
        target = None if wanted is None else next(wanted, None)
        for position, located in enumerate(self.stream):
            if wanted is None:
                yield self.read(located)
                continue
            if target is None:
                return
            if position == target:
                yield self.read(located)
                target = next(wanted, None)

    def take(self, indices: Sequence[int]) -> CheckedRows[T, M]:
        """The rows at ``indices`` (of this selection), in stream order."""
        chosen = sorted(set(indices))
        positions = self.positions or range(len(self.meta))
        return replace(self, meta=[self.meta[i] for i in chosen], positions=tuple(positions[i] for i in chosen))

    def sample(self, limit: int | None, seed: int) -> list[int]:
        """``limit`` indices drawn at random (seeded), all of them when ``limit`` is None or larger."""
        if limit is None or limit >= len(self.meta):
            return list(range(len(self.meta)))
        return sorted(random.Random(seed).sample(range(len(self.meta)), limit))


def check_rows(stream: RowStream, read: Callable[[Located], T], keep: Callable[[T], M], what: str) -> CheckedRows[T, M]:
    """Read every row of ``stream`` through ``read`` (which raises InvalidInputError naming the row
    and the field), keeping ``keep`` of each; no row at all is an error."""
    meta = [keep(read(located)) for located in stream]
    if not meta:
        raise InvalidInputError(f"no {what} in {', '.join(stream.names)}")
    return CheckedRows(stream, read, meta)


@dataclass(frozen=True)
class AnswerSetRow:
    """One prompt and its answers, the correct ones (``chosen``) first."""

    id: Any
    prompt: str
    chosen: tuple[str, ...]
    rejected: tuple[str, ...]

    @property
    def answers(self) -> tuple[str, ...]:
        return self.chosen + self.rejected


def answer_list(value: Sequence[Any], key: str) -> tuple[str, ...]:
    """``value``, the list in column ``key``, as a tuple; an error names the first item not a string."""
    for k, answer in enumerate(value):
        if not isinstance(answer, str):
            raise InvalidInputError(f"'{key}'[{k}] must be a string (got a {type(answer).__name__})")
    return tuple(value)


# ------------------------------------------------------------------------------------------- formats


def _open_text(path: Path) -> io.TextIOBase:
    try:
        if path.name.endswith(".gz"):
            return gzip.open(path, "rt", encoding="utf-8")  # type: ignore[return-value]
        return path.open("r", encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read it ({exc})") from None


def _read(f: io.TextIOBase, path: Path, size: int = CHUNK) -> str:
    try:
        return f.read(size)
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise InvalidInputError(f"{path}: cannot read it ({exc}); expected UTF-8 JSON or JSON Lines") from None


def _json_rows(path: Path) -> Iterator[Located]:
    """A JSON list of objects or JSON Lines, told by the first character that is not a space."""
    with _open_text(path) as f:
        buffer = chunk = _read(f, path)
        while chunk and not buffer.strip():
            chunk = _read(f, path)
            buffer += chunk
        if buffer.lstrip().startswith("["):
            yield from _list_rows(f, buffer, path)
            return
    with _open_text(path) as f:
        number = 0
        try:
            for line, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                number += 1
                where = f"{path} row {number} (line {line})"
                try:
                    row = json.loads(raw)
                except json.JSONDecodeError as exc:
                    message = f"not valid JSON ({exc.msg}); expected one object a line"
                    raise InvalidInputError(f"{where}: {message}") from None
                yield _object(row, where, path)
        except (OSError, UnicodeDecodeError, EOFError) as exc:
            raise InvalidInputError(f"{path}: cannot read it ({exc}); expected UTF-8 JSON or JSON Lines") from None


def _list_rows(f: io.TextIOBase, buffer: str, path: Path) -> Iterator[Located]:
    """The objects of a JSON list, decoded one at a time; the buffer holds the unread part of the
    last chunk and the object being decoded, about twice that at most."""
    decoder = json.JSONDecoder()
    pos = buffer.index("[") + 1
    line = 1 + buffer.count("\n", 0, pos)
    number, end_of_file = 0, False

    def more() -> None:  # reads at least as much as is buffered: a long object costs linear time
        nonlocal buffer, pos, end_of_file
        chunk = _read(f, path, max(CHUNK, len(buffer) - pos))
        end_of_file = not chunk
        buffer, pos = buffer[pos:] + chunk, 0

    while True:
        skipped = _SEPARATORS.match(buffer, pos).end()  # type: ignore[union-attr]
        line += buffer.count("\n", pos, skipped)
        pos = skipped
        if pos >= len(buffer):
            if end_of_file:
                raise InvalidInputError(f"{path}: the JSON list is not closed with ']'")
            more()
            continue
        if buffer[pos] == "]":
            return
        try:
            row, end = decoder.raw_decode(buffer, pos)
        except json.JSONDecodeError as exc:
            if not end_of_file:
                more()
                continue
            where = f"{path} row {number + 1} (line {line + buffer.count(chr(10), pos, exc.pos)})"
            raise InvalidInputError(f"{where}: not valid JSON ({exc.msg})") from None
        if end >= len(buffer) and not end_of_file:  # a number or word may go on in the next chunk
            more()
            continue
        number += 1
        yield _object(row, f"{path} row {number} (line {line})", path)
        line += buffer.count("\n", pos, end)
        pos = end


def _object(row: Any, where: str, path: Path | None) -> Located:
    if not isinstance(row, dict):
        raise InvalidInputError(f"{where}: expected a JSON object, got {type(row).__name__}")
    return Located(where, path, row)


def _parquet_rows(path: Path) -> Iterator[Located]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InvalidInputError(f"{path}: reading Parquet needs pyarrow: pip install 'rewardkit[data]'") from None
    try:
        table = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several kinds for a file that is not Parquet
        raise InvalidInputError(f"{path}: not a Parquet file ({exc})") from None
    number = 0
    for batch in table.iter_batches(batch_size=256):
        for row in batch.to_pylist():
            number += 1
            yield Located(f"{path} row {number}", path, row)


def _dataset_rows(name: str, split: str) -> Iterator[Located]:
    try:
        import datasets
    except ImportError:
        raise InvalidInputError(f"{name}: reading a datasets name needs: pip install 'rewardkit[data]'") from None
    try:
        loaded = datasets.load_dataset(name, split=split)
    except Exception as exc:  # offline, no such dataset, no such split: the library's own many kinds
        raise InvalidInputError(
            f"{name}: no such file or folder, and it cannot be loaded as a datasets name ({exc}); "
            "offline, download the data files and name them instead"
        ) from None
    for number, row in enumerate(loaded, start=1):
        yield Located(f"{name} row {number}", None, dict(row))
