"""RewardBench 2 rows (allenai/reward-bench-2, its test split's published columns): ``id``, ``prompt``,
``chosen`` and ``rejected`` (lists of answers), ``num_correct``, ``subset``, and where present
``num_incorrect``, ``total_completions`` and ``models``.

A row must carry what the authors' scoring reads (``id``, ``prompt``, ``chosen``, ``rejected``,
``num_correct``, ``subset``), non-empty lists of strings, and counts that agree with its lists: their
script regroups answers by ``total_completions`` and splits a Ties row by ``num_correct``, so a count
that disagrees would silently move answers between rows or between correct and incorrect. A Ties row
(``subset`` "Ties", any case, as their script tests it) needs an ``id`` of the form ``ref:N`` or
``tied:N``: the Ties formula pairs a prompt's reference row with its tied row by N. Knows nothing
about scores.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from rewardkit.data.streams import AnswerSetRow, CheckedRows, Located, answer_list, check_rows, open_rows
from rewardkit.errors import InvalidInputError

__all__ = ["COLUMNS", "Rb2Meta", "Rb2Row", "check_rewardbench2", "is_ties", "read_row", "sample_rewardbench2"]

COLUMNS = ("id", "prompt", "chosen", "rejected", "num_correct", "subset")
"""The columns scoring reads; the published data also has num_incorrect, total_completions, models."""

_TIES_ID = re.compile(r"(ref|tied):([0-9]+)")


def is_ties(subset: str) -> bool:
    """The subset scored by the Ties formula (the authors' run_v2.py: ``subset.lower() == "ties"``)."""
    return subset.lower() == "ties"


@dataclass(frozen=True)
class Rb2Row(AnswerSetRow):
    """One prompt and its answers, the correct ones (``chosen``) first."""

    id: str
    num_correct: int
    subset: str
    source: str

    @property
    def ties_key(self) -> tuple[str, int] | None:
        """("ref" or "tied", N) for a Ties row, else None."""
        if not is_ties(self.subset):
            return None
        kind, number = _TIES_ID.fullmatch(self.id).groups()  # type: ignore[union-attr]
        return kind, int(number)


class Rb2Meta(NamedTuple):
    """What scoring keeps of a row: no text. ``source`` only for Ties rows (their pairing is checked
    after the whole file is read)."""

    subset: str
    num_correct: int
    answers: int
    ties_key: tuple[str, int] | None
    source: str | None


def _answers(row: dict[str, Any], key: str) -> tuple[str, ...]:
    value = row[key]
    if not isinstance(value, (list, tuple)) or not value:
        got = "an empty list" if isinstance(value, (list, tuple)) else f"a {type(value).__name__}"
        raise InvalidInputError(f"'{key}' must be a non-empty list of strings (got {got})")
    return answer_list(value, key)


def _count(row: dict[str, Any], key: str, expected: int, what: str) -> int:
    value = row[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"'{key}' must be an integer (got a {type(value).__name__})")
    if value != expected:
        raise InvalidInputError(f"'{key}' is {value} but the row has {expected} {what}")
    return value


def read_row(located: Located) -> Rb2Row:
    """One checked row; an InvalidInputError names the row and the field."""
    row, where = located.row, located.where
    try:
        missing = [key for key in COLUMNS if key not in row]
        if missing:
            raise InvalidInputError(
                f"missing column {', '.join(repr(k) for k in missing)} (RewardBench 2 rows have {', '.join(COLUMNS)})"
            )
        ident = row["id"]
        if isinstance(ident, bool) or not isinstance(ident, (str, int)):
            raise InvalidInputError(f"'id' must be a string or an integer (got a {type(ident).__name__})")
        prompt, subset = row["prompt"], row["subset"]
        if not isinstance(prompt, str):
            raise InvalidInputError(f"'prompt' must be a string (got a {type(prompt).__name__})")
        if not isinstance(subset, str) or not subset.strip():
            raise InvalidInputError("'subset' must be a non-empty string")
        chosen, rejected = _answers(row, "chosen"), _answers(row, "rejected")
        num_correct = _count(row, "num_correct", len(chosen), "chosen answers")
        if row.get("num_incorrect") is not None:
            _count(row, "num_incorrect", len(rejected), "rejected answers")
        if row.get("total_completions") is not None:
            _count(row, "total_completions", len(chosen) + len(rejected), "answers")
        if is_ties(subset) and not _TIES_ID.fullmatch(str(ident)):
            raise InvalidInputError(
                f"'id' of a {subset} row must be ref:N or tied:N (got {str(ident)!r}): the Ties formula "
                "pairs a prompt's reference row with its tied row by N"
            )
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None
    return Rb2Row(str(ident), prompt, chosen, rejected, num_correct, subset, where)


def _keep(row: Rb2Row) -> Rb2Meta:
    key = row.ties_key
    return Rb2Meta(row.subset, row.num_correct, len(row.answers), key, row.source if key else None)


def check_rewardbench2(paths: Sequence[str | Path]) -> CheckedRows[Rb2Row, Rb2Meta]:
    """Every row of the files, folders or ``datasets`` name (split test), checked before any
    scoring: each row on its own, then the Ties groups (each ``ref:N`` / ``tied:N`` once; a tied
    prompt with a reference needs two correct answers, the spread between which the formula uses)."""
    rows = check_rows(open_rows(paths, dataset_names=True), read_row, _keep, "RewardBench 2 rows")
    seen: dict[tuple[str, int], str] = {}
    for meta in rows.meta:
        if meta.ties_key is None:
            continue
        if meta.ties_key in seen:
            raise InvalidInputError(
                f"{meta.source}: 'id' {':'.join(map(str, meta.ties_key))} appears twice in the Ties rows "
                f"(first at {seen[meta.ties_key]})"
            )
        seen[meta.ties_key] = meta.source  # type: ignore[assignment]
    for meta in rows.meta:
        if meta.ties_key and meta.ties_key[0] == "tied" and ("ref", meta.ties_key[1]) in seen and meta.num_correct < 2:
            raise InvalidInputError(
                f"{meta.source}: 'num_correct' is {meta.num_correct}, but a tied row paired with a ref row needs "
                "at least 2 correct answers (the Ties formula compares the best and worst correct scores)"
            )
    return rows


def sample_rewardbench2(rows: CheckedRows[Rb2Row, Rb2Meta], limit: int | None, seed: int) -> list[int]:
    """``limit`` rows drawn at random (seeded) and, for each Ties row drawn, its ref/tied partner, so
    that the Ties formula keeps its pairs (a few more than ``limit`` rows then)."""
    chosen = set(rows.sample(limit, seed))
    where = {m.ties_key: i for i, m in enumerate(rows.meta) if m.ties_key}
    for i in list(chosen):
        key = rows.meta[i].ties_key
        if key:
            partner = where.get(("tied" if key[0] == "ref" else "ref", key[1]))
            if partner is not None:
                chosen.add(partner)
    return sorted(chosen)
