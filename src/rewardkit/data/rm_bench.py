"""RM-Bench rows (THU-KEG/RM-Bench, ``data/total_dataset.json``): ``id``, ``prompt``, ``chosen`` and
``rejected`` (three answers each, of increasing style: concise, detailed, detailed in Markdown) and
``domain``.

A row belongs to the domain its ``domain`` starts with, as in the authors' ``split_dataset_by_domain``
(scripts/utils.py): chat, code, math or safety (``safety-refuse`` and ``safety-response`` are both
safety). A ``domain`` that starts with none of them is an error here; the authors' code drops such a
row without a word. The authors' per-domain files (``chat_filtered.json``, ``safety-refuse_filtered.json``,
...) have no ``domain`` field: a row without one takes its domain from its file's name, which goes
beyond their code (it scores such a file alone, as one set). Knows nothing about scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardkit.data.streams import AnswerSetRow, CheckedRows, Located, answer_list, check_rows, open_rows
from rewardkit.errors import InvalidInputError

__all__ = ["ANSWERS", "COLUMNS", "DOMAINS", "RmBenchRow", "check_rm_bench", "domain_of", "read_row"]

DOMAINS = ("chat", "code", "math", "safety")
ANSWERS = 3
"""Chosen and rejected answers per row: the authors' matrix is 3 x 3."""
COLUMNS = ("id", "prompt", "chosen", "rejected")
"""The columns every row needs, with ``domain`` unless its file's name gives it."""


def domain_of(name: str) -> str | None:
    """The domain ``name`` starts with, or None."""
    return next((domain for domain in DOMAINS if name.startswith(domain)), None)


@dataclass(frozen=True)
class RmBenchRow(AnswerSetRow):
    domain: str
    source: str


def _answers(row: dict[str, Any], key: str) -> tuple[str, ...]:
    value = row[key]
    if not isinstance(value, (list, tuple)):
        raise InvalidInputError(f"'{key}' must be a list of {ANSWERS} strings (got a {type(value).__name__})")
    if len(value) != ANSWERS:
        raise InvalidInputError(f"'{key}' must hold exactly {ANSWERS} answers (got {len(value)})")
    return answer_list(value, key)


def _domain(row: dict[str, Any], file: Path | None) -> str:
    if "domain" in row:
        value = row["domain"]
        if not isinstance(value, str):
            raise InvalidInputError(f"'domain' must be a string (got a {type(value).__name__})")
        domain = domain_of(value)
        if domain is None:
            raise InvalidInputError(
                f"'domain' is {value!r}, which starts with none of {', '.join(DOMAINS)} "
                "(RM-Bench's own scoring would drop this row silently)"
            )
        return domain
    stem = file.name.split(".")[0] if file is not None else ""
    domain = domain_of(stem)
    if domain is None:
        raise InvalidInputError(
            f"missing column 'domain', and the file name {stem!r} starts with none of {', '.join(DOMAINS)}"
        )
    return domain


def read_row(located: Located) -> RmBenchRow:
    """One checked row; an InvalidInputError names the row and the field."""
    row, where = located.row, located.where
    try:
        missing = [key for key in COLUMNS if key not in row]
        if missing:
            names = ", ".join(repr(k) for k in missing)
            raise InvalidInputError(f"missing column {names} (RM-Bench rows have {', '.join(COLUMNS)}, domain)")
        if not isinstance(row["prompt"], str):
            raise InvalidInputError(f"'prompt' must be a string (got a {type(row['prompt']).__name__})")
        chosen, rejected = _answers(row, "chosen"), _answers(row, "rejected")
        domain = _domain(row, located.file)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None
    return RmBenchRow(row["id"], row["prompt"], chosen, rejected, domain, where)


def check_rm_bench(paths: Sequence[str | Path]) -> CheckedRows[RmBenchRow, str]:
    """Every row of the files and folders checked before any scoring; each row's domain kept."""
    return check_rows(open_rows(paths), read_row, lambda row: row.domain, "RM-Bench rows")
