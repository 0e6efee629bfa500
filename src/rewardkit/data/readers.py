"""Dataset files -> plain dataclasses: preference pairs, unlabeled pairs and multiple-choice questions.

Reads JSON (a list of objects), JSON Lines, either gzipped, and CSV (multiple choice); the format of
each file is told from the keys of its first row, and each format is read by its own module
(hh_rlhf, preference, llmbar, alpaca_eval, unlabeled, truthfulqa, multiple_choice). Knows nothing
about models or scores: what it cannot use it skips and counts (``skipped``), what it repairs it
counts (``notes``), and a row it cannot make sense of is an InvalidInputError naming ``file:line``.

Unlabeled pairs (for semi-supervised training) are read from any pair format, labels kept only for
diagnosis and not needed (an LLMBar or AlpacaEval row without one is read, its label unknown), or
from {prompt | messages, response_a, response_b}, which carries no label.

Preference pairs keep the file's orientation: ``first`` / ``second`` are the two responses and
``p_first`` is P(first is better). Hard-label formats put the chosen response first (p_first = 1.0);
LLMBar keeps output_1 first (p_first = 1.0 or 0.0 by its label); AlpacaEval keeps output_1 (the
reference) first with p_first = 2 - preference, a soft label.

Real-data quirks (counts on ../shared/data, see tests/unit/test_data_readers.py) are handled where
each format is read; one holds for any format: a pair whose two responses are the same text is
skipped (records.py). Multiple choice, any format: empty incorrect answers, repeated ones and ones
equal to the correct answer are dropped and counted; a question left with none is skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rewardkit.data import alpaca_eval, hh_rlhf, llmbar, multiple_choice, preference, truthfulqa
from rewardkit.data.files import CSV_SUFFIXES, JSON_SUFFIXES, data_rows, expand_paths, file_stem
from rewardkit.data.records import McData, MultipleChoice, PairData, Tally, UnlabeledData
from rewardkit.data.unlabeled import ignoring_label, read_response_ab, read_two_outputs
from rewardkit.errors import InvalidInputError

__all__ = ["read_multiple_choice", "read_pairs", "read_unlabeled_pairs"]

logger = logging.getLogger(__name__)


def _log(tally: Tally, path: Path) -> None:
    for reason, count in sorted(tally.skipped.items()):
        logger.warning("%s: skipped %d rows: %s", path, count, reason)
    for reason, count in sorted(tally.notes.items()):
        logger.info("%s: %d: %s", path, count, reason)


# ------------------------------------------------------------------------------------- pair formats

_PAIR_FORMATS = "{chosen, rejected} (hh-rlhf), {prompt, chosen, rejected}, {input, output_1, output_2, label} (LLMBar), {instruction, output_1, output_2, preference} (AlpacaEval)"  # noqa: E501


def _pair_reader(row: dict[str, Any], where: str) -> Any:
    if "output_1" in row and "output_2" in row:
        return llmbar.read_pair if "label" in row else alpaca_eval.read_pair
    if "chosen" in row and "rejected" in row:
        hh = row.get("prompt") is None and isinstance(row["chosen"], str) and isinstance(row["rejected"], str)
        return hh_rlhf.read_pair if hh else preference.read_pair
    raise InvalidInputError(
        f"{where}: cannot tell the format from the keys {sorted(row)}; expected one of {_PAIR_FORMATS}"
    )


def _read_all(
    paths: str | Path | Sequence[str | Path], choose: Any, what: str, suffixes: Sequence[str] = JSON_SUFFIXES
) -> tuple[Any, ...]:
    """(items, files, skipped, notes) from files and directories; no usable item is an error."""
    files = expand_paths(paths, suffixes)
    items, total = _read_files(files, choose)
    if not items:
        names = ", ".join(map(str, files))
        raise InvalidInputError(f"no usable {what} in {names} (skipped: {dict(total.skipped)})")
    return items, [str(f) for f in files], dict(total.skipped), dict(total.notes)


def _read_files(files: Sequence[Path], choose: Any) -> tuple[list[Any], Tally]:
    """Each file's rows through the reader ``choose`` picks from its first row; errors name file:line."""
    items: list[Any] = []
    total = Tally()
    for path in files:
        tally, reader = Tally(), None
        for where, row in data_rows(path):
            reader = reader or choose(row, where)
            try:
                item = reader(row, where, file_stem(path), tally)
            except InvalidInputError as exc:
                raise InvalidInputError(f"{where}: {exc}") from None
            if item is not None:
                items.append(item)
        _log(tally, path)
        total.skipped.update(tally.skipped)
        total.notes.update(tally.notes)
    return items, total


def read_pairs(paths: str | Path | Sequence[str | Path]) -> PairData:
    """Preference pairs from files and directories; the format is detected per file."""
    return PairData(*_read_all(paths, _pair_reader, "preference pairs"))


# ---------------------------------------------------------------------------------- unlabeled pairs


def _unlabeled_reader(row: dict[str, Any], where: str) -> Any:
    if "response_a" in row and "response_b" in row:
        return read_response_ab
    if "output_1" in row and "output_2" in row:
        return read_two_outputs
    try:
        return ignoring_label(_pair_reader(row, where))
    except InvalidInputError:
        raise InvalidInputError(
            f"{where}: cannot tell the format from the keys {sorted(row)}; expected "
            f"{{prompt|messages, response_a, response_b}} or a labeled one: {_PAIR_FORMATS}"
        ) from None


def read_unlabeled_pairs(paths: str | Path | Sequence[str | Path]) -> UnlabeledData:
    """Response pairs without a needed label (semi-supervised training), from files and directories:
    {prompt|messages, response_a, response_b} JSON Lines, or any format `read_pairs` reads, whose
    labels are kept for diagnosis only and may be missing (p_first None). Rows of labeled formats
    go through the same checks otherwise."""
    return UnlabeledData(*_read_all(paths, _unlabeled_reader, "response pairs"))


# ------------------------------------------------------------------------------------ multiple choice


def _mc_reader(row: dict[str, Any], where: str) -> Any:
    if {"Question", "Best Answer", "Incorrect Answers"} <= row.keys():
        return truthfulqa.read_question
    if "correct" in row and "incorrect" in row:
        return multiple_choice.read_question
    raise InvalidInputError(
        f"{where}: cannot tell the format from the keys {sorted(row)}; expected TruthfulQA's CSV columns "
        "(Question, Best Answer, Incorrect Answers, Category) or {question|prompt|messages, correct, incorrect}"
    )


def _clean_incorrect(correct: str, incorrect: list[str], tally: Tally) -> list[str]:
    kept: list[str] = []
    for answer in incorrect:
        if not answer:
            tally.notes["empty incorrect answer dropped"] += 1
        elif answer == correct:
            tally.notes["incorrect answer equal to the correct one dropped"] += 1
        elif answer in kept:
            tally.notes["repeated incorrect answer dropped"] += 1
        else:
            kept.append(answer)
    return kept


def _mc_question(row: dict[str, Any], where: str) -> Any:
    """The question reader for a file, from its first row: its format's fields, then the shared
    clean-up of the incorrect answers (a question with none left is skipped and counted)."""
    fields = _mc_reader(row, where)

    def read(row: dict[str, Any], where: str, stem: str, tally: Tally) -> MultipleChoice | None:
        context, correct, incorrect, subset = fields(row, stem)
        incorrect = _clean_incorrect(correct, incorrect, tally)
        if not incorrect:
            tally.skipped["no incorrect answer left to compare with"] += 1
            return None
        return MultipleChoice(context, correct, incorrect, subset, source=where)

    return read


def read_multiple_choice(paths: str | Path | Sequence[str | Path]) -> McData:
    """Multiple-choice questions (TruthfulQA CSV or JSON Lines) from files and directories."""
    return McData(*_read_all(paths, _mc_question, "questions", (*JSON_SUFFIXES, *CSV_SUFFIXES)))
