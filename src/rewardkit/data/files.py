"""Data files in and out: JSON (a list of objects), JSON Lines and CSV, either gzipped, read row by row
with ``file:line``; JSONL rows read whole; every write atomic, through one ``<name>.partial`` file.

Knows nothing about what the rows mean: a file it cannot read, or a row that is not a JSON object, is
an InvalidInputError naming the file (and the line).
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rewardkit.errors import InvalidInputError

__all__ = [
    "CSV_SUFFIXES",
    "JSON_SUFFIXES",
    "atomic_path",
    "csv_rows",
    "data_rows",
    "expand_paths",
    "file_stem",
    "json_rows",
    "read_rows",
    "write_jsonl",
    "write_rows",
    "write_text_atomic",
]

JSON_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
CSV_SUFFIXES = (".csv", ".csv.gz")


# ----------------------------------------------------------------------------------------------- reading


def expand_paths(paths: str | Path | Sequence[str | Path], suffixes: Sequence[str] = JSON_SUFFIXES) -> list[Path]:
    """Files as given, and the data files under each directory (recursively, sorted by name)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(tuple(suffixes)))
            if not found:
                raise InvalidInputError(f"{path}: no data files here (looked for {', '.join(suffixes)})")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise InvalidInputError(f"{path}: no such file or directory")
    return files


def file_stem(path: Path) -> str:
    """The file's name without its data suffixes: ``Natural.json`` and ``hh.jsonl.gz`` -> ``Natural``, ``hh``."""
    name = path.name
    for suffix in (".gz", ".jsonl", ".json", ".csv"):
        name = name.removesuffix(suffix)
    return name


def _text(path: Path) -> str:
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                return f.read()
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise InvalidInputError(f"{path}: cannot read it ({exc}); expected UTF-8 JSON, JSON Lines or CSV") from None


def json_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(``file:line``, object) for a JSON list of objects or for JSON Lines."""
    text = _text(path)
    decoder = json.JSONDecoder()
    start = len(text) - len(text.lstrip())
    if text[start : start + 1] == "[":  # a JSON list: walk it so that each object keeps its line number
        pos, line, counted = start + 1, 1, 0
        while True:
            while pos < len(text) and text[pos] in " \t\r\n,":
                pos += 1
            if pos >= len(text):
                raise InvalidInputError(f"{path}: the JSON list is not closed with ']'")
            if text[pos] == "]":
                return
            line += text.count("\n", counted, pos)
            counted = pos
            try:
                row, pos = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
            yield _object(row, f"{path}:{line}")
    for line, raw in enumerate(text.splitlines(), start=1):
        if raw.strip():
            try:
                row = json.loads(raw)
            except json.JSONDecodeError as exc:
                message = f"not valid JSON ({exc.msg}); expected one object a line"
                raise InvalidInputError(f"{path}:{line}: {message}") from None
            yield _object(row, f"{path}:{line}")


def _object(row: Any, where: str) -> tuple[str, dict[str, Any]]:
    if not isinstance(row, dict):
        raise InvalidInputError(f"{where}: expected a JSON object, got {type(row).__name__}")
    return where, row


def csv_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(``file:line``, row as a dict by the header's column names) for a CSV file."""
    reader = csv.DictReader(_text(path).splitlines(keepends=True))
    for row in reader:
        yield f"{path}:{reader.line_num}", row


def data_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(``file:line``, row) of a CSV file or a JSON / JSON Lines one, told by the file's suffix."""
    return csv_rows(path) if path.name.endswith(CSV_SUFFIXES) else json_rows(path)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Every object of a JSON Lines file, each with its line number as ``__line__``."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise InvalidInputError(f"{path}:{number}: expected a JSON object per line")
            row["__line__"] = number
            rows.append(row)
    return rows


# ----------------------------------------------------------------------------------------------- writing


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """The temporary ``<name>.partial`` next to ``path`` to write to: when the block ends it replaces
    ``path`` in one rename, so an interrupted write never leaves half a file; when the block raises it
    is removed and ``path`` is left as it was. The parent folder must exist."""
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through `atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write one JSON object a line (non-ASCII kept as it is) through `atomic_path`."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write JSONL through a .partial file, so an interrupted write never leaves half a file; the
    parent folder is created if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(path, rows)
