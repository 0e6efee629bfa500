"""Evaluation data files -> plain dataclasses: preference pairs and multiple-choice questions.

Reads JSON (a list of objects), JSON Lines, either gzipped, and CSV (multiple choice); the format of
each file is told from the keys of its first row. Knows nothing about models or scores: what it
cannot use it skips and counts (``skipped``), what it repairs it counts (``notes``), and a row it
cannot make sense of is an InvalidInputError naming ``file:line``.

Unlabeled pairs (for semi-supervised training) are read from any pair format, labels kept only for
diagnosis and not needed (an LLMBar or AlpacaEval row without one is read, its label unknown), or
from {prompt | messages, response_a, response_b}, which carries no label.

Preference pairs keep the file's orientation: ``first`` / ``second`` are the two responses and
``p_first`` is P(first is better). Hard-label formats put the chosen response first (p_first = 1.0);
LLMBar keeps output_1 first (p_first = 1.0 or 0.0 by its label); AlpacaEval keeps output_1 (the
reference) first with p_first = 2 - preference, a soft label.

Real-data quirks handled (counts on ../shared/data, see tests/unit/test_eval_datasets.py):
- hh-rlhf: a few dialogues contain "Human:" inline (without the blank line before it), so the two
  sides parse into different turns before the last answer. Such a pair does not compare two answers
  to one context: skipped and counted (5 of 2312 in harmless-base test). Consecutive turns of the
  same role in the shared context are merged (4 rows) so that strict chat templates accept them.
  Empty responses are kept (4 rows): an empty reply preferred to a harmful one is a real label.
- Any format: a pair whose two responses are the same text tells nothing about a reward model and
  is skipped (AlpacaEval: the reference against itself, 2-4 rows per generator).
- AlpacaEval: a missing preference skips the row (unlabeled reading keeps it, its label unknown);
  0 is AlpacaEval's own code for a draw (0.5).
- TruthfulQA: trailing "; " leaves empty answers (dropped), one question lists an incorrect answer
  twice (deduplicated); an incorrect answer equal to the correct one would be dropped too.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardkit.errors import InvalidInputError
from rewardkit.templating import validate_context, validate_messages
from rewardkit.types import Conversation

__all__ = [
    "McData",
    "MultipleChoice",
    "PairData",
    "PreferencePair",
    "UnlabeledData",
    "UnlabeledPair",
    "expand_paths",
    "read_multiple_choice",
    "read_pairs",
    "read_unlabeled_pairs",
]

logger = logging.getLogger(__name__)

JSON_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
CSV_SUFFIXES = (".csv", ".csv.gz")


@dataclass(frozen=True)
class PreferencePair:
    """Two responses to one context and P(first is better): 1.0 or 0.0 for hard labels."""

    context: Conversation
    first: str
    second: str
    p_first: float
    subset: str
    second_generator: str | None = None
    """The model that wrote ``second`` where the data says (AlpacaEval's generator_2), to group by."""
    source: str = ""
    """``file:line`` the pair was read from."""
    margin: float = 0.0
    """How much better the preferred response is, where the data says (a ``margin`` column); training
    uses it in the Bradley-Terry loss, evaluation ignores it."""


@dataclass(frozen=True)
class UnlabeledPair:
    """Two responses to one context, in the file's order; no preference is needed."""

    context: Conversation
    first: str
    second: str
    source: str = ""
    """``file:line`` the pair was read from."""
    p_first: float | None = None
    """P(first is better) where the file happens to say, for diagnosis only; None otherwise."""


@dataclass(frozen=True)
class MultipleChoice:
    """One question: the correct answer against incorrect ones (distinct, none equal to it)."""

    context: Conversation
    correct: str
    incorrect: list[str]
    subset: str
    source: str = ""

    @property
    def choices(self) -> list[str]:
        return [self.correct, *self.incorrect]


@dataclass
class _Tally:
    skipped: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class PairData:
    """What `read_pairs` found: the pairs, the files, and what it skipped or repaired (with counts)."""

    pairs: list[PreferencePair]
    files: list[str]
    skipped: dict[str, int]
    notes: dict[str, int]


@dataclass(frozen=True)
class UnlabeledData:
    """What `read_unlabeled_pairs` found: the pairs, the files, what it skipped or repaired."""

    pairs: list[UnlabeledPair]
    files: list[str]
    skipped: dict[str, int]
    notes: dict[str, int]


@dataclass(frozen=True)
class McData:
    """What `read_multiple_choice` found: the questions, the files, what it skipped or repaired."""

    questions: list[MultipleChoice]
    files: list[str]
    skipped: dict[str, int]
    notes: dict[str, int]


# ---------------------------------------------------------------------------------------------- files


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


def _stem(path: Path) -> str:
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


def _csv_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(_text(path).splitlines(keepends=True))
    for row in reader:
        yield f"{path}:{reader.line_num}", row


def _rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    return _csv_rows(path) if path.name.endswith(CSV_SUFFIXES) else json_rows(path)


def _log(tally: _Tally, path: Path) -> None:
    for reason, count in sorted(tally.skipped.items()):
        logger.warning("%s: skipped %d rows: %s", path, count, reason)
    for reason, count in sorted(tally.notes.items()):
        logger.info("%s: %d: %s", path, count, reason)


# -------------------------------------------------------------------------------------------- fields


def _string(row: dict[str, Any], key: str, *, empty: bool = True) -> str:
    value = row.get(key)
    if not isinstance(value, str):
        got = "missing" if key not in row else f"a {type(value).__name__}"
        raise InvalidInputError(f"'{key}' must be a string ({got})")
    if not empty and not value.strip():
        raise InvalidInputError(f"'{key}' is empty")
    return value


def _messages(value: Any, key: str) -> Conversation:
    return validate_messages(value, f"'{key}'")


def _prompt(value: Any, key: str) -> Conversation:
    """A context: a string is one user turn; a message list is taken as it is."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return _messages(value, key)


def _subset(row: dict[str, Any], key: str, default: str) -> str:
    value = row.get(key)
    return value if isinstance(value, str) and value.strip() else default


# ------------------------------------------------------------------------------------- pair formats

_HH_TURN = re.compile(r"\n\n(Human|Assistant):[ ]?")
_SAME_TEXT = "the two responses are the same text"
_CONTEXTS_DIFFER = "the two sides differ before the last assistant turn, so they do not answer one context"


def _hh_dialogue(text: str, key: str) -> Conversation:
    """'\\n\\nHuman: ...\\n\\nAssistant: ...' -> messages; contents stripped, as TRL's hh-rlhf script does."""
    if text.startswith(("Human:", "Assistant:")):
        text = "\n\n" + text
    parts = _HH_TURN.split(text)
    if parts[0].strip():
        raise InvalidInputError(
            f"'{key}' has text before its first '\\n\\nHuman:' turn; without a 'prompt', 'chosen' and 'rejected' "
            "must be whole hh-rlhf dialogues ('\\n\\nHuman: ...\\n\\nAssistant: ...') or message lists"
        )
    roles, contents = parts[1::2], parts[2::2]
    if not roles or roles[-1] != "Assistant":
        raise InvalidInputError(f"'{key}' must end with an '\\n\\nAssistant:' turn (hh-rlhf dialogue format)")
    return [{"role": "user" if r == "Human" else "assistant", "content": c.strip()} for r, c in zip(roles, contents)]


def _merge_same_roles(context: Conversation) -> Conversation:
    merged: Conversation = []
    for message in context:
        if merged and merged[-1]["role"] == message["role"]:
            merged[-1] = {"role": message["role"], "content": merged[-1]["content"] + "\n\n" + message["content"]}
        else:
            merged.append(dict(message))
    return merged


def _pair(
    context: Conversation, first: str, second: str, p_first: float, subset: str, where: str, tally: _Tally, **extra: Any
) -> PreferencePair | None:
    if first == second:
        tally.skipped[_SAME_TEXT] += 1
        return None
    return PreferencePair(context, first, second, p_first, subset, source=where, **extra)


def _hh_rlhf(row: dict[str, Any], where: str, default: str, tally: _Tally) -> PreferencePair | None:
    chosen = _hh_dialogue(_string(row, "chosen"), "chosen")
    rejected = _hh_dialogue(_string(row, "rejected"), "rejected")
    if chosen[:-1] != rejected[:-1]:
        tally.skipped[f"hh-rlhf: {_CONTEXTS_DIFFER}"] += 1
        return None
    if len(chosen) < 2:
        raise InvalidInputError("'chosen' has no 'Human:' turn before its last 'Assistant:' turn")
    context = _merge_same_roles(chosen[:-1])
    first, second = chosen[-1]["content"], rejected[-1]["content"]
    pair = _pair(context, first, second, 1.0, _subset(row, "subset", default), where, tally)
    if pair is not None and len(context) != len(chosen) - 1:
        tally.notes["hh-rlhf: consecutive turns of one role merged into one message"] += 1
    if pair is not None and not (first and second):
        tally.notes["hh-rlhf: an empty response kept (an empty reply can be the right one)"] += 1
    return pair


def _split_response(value: Any, key: str) -> tuple[Conversation | None, str]:
    """(the turns before the response or None, the response) of a string or a message list."""
    if isinstance(value, str):
        return None, value
    messages = _messages(value, key)
    if messages[-1]["role"] != "assistant":
        raise InvalidInputError(f"'{key}' must end with an 'assistant' message (the response)")
    return messages[:-1], messages[-1]["content"]


def _prompt_chosen_rejected(row: dict[str, Any], where: str, default: str, tally: _Tally) -> PreferencePair | None:
    """TRL / RewardBench layouts: prompt string or messages (or none), chosen/rejected strings or
    message lists, which may repeat the prompt (TRL's implicit-prompt conversational layout)."""
    before_chosen, chosen = _split_response(row.get("chosen"), "chosen")
    before_rejected, rejected = _split_response(row.get("rejected"), "rejected")
    if row.get("prompt") is not None:
        context = _prompt(row["prompt"], "prompt")
        sides = [b for b in (before_chosen, before_rejected) if b]  # [] or None: the response alone
        if any(b != context for b in sides):
            tally.skipped[f"prompt/chosen/rejected: {_CONTEXTS_DIFFER}"] += 1
            return None
    else:
        if before_chosen is None or before_rejected is None:
            raise InvalidInputError(
                "no 'prompt': 'chosen' and 'rejected' must then be whole conversations (message lists, or "
                "hh-rlhf '\\n\\nHuman: ... \\n\\nAssistant: ...' strings)"
            )
        if before_chosen != before_rejected:
            tally.skipped[f"prompt/chosen/rejected: {_CONTEXTS_DIFFER}"] += 1
            return None
        context = before_chosen
    if not any(m["role"] == "user" for m in context):
        raise InvalidInputError("the prompt needs at least one 'user' message")
    margin = row.get("margin", 0.0)
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not math.isfinite(margin):
        raise InvalidInputError(f"'margin' must be a finite number, got {margin!r}")
    return _pair(context, chosen, rejected, 1.0, _subset(row, "subset", default), where, tally, margin=float(margin))


def _llmbar_p_first(label: Any) -> float:
    """LLMBar's label (1: output_1 better, 2: output_2) as P(output_1 better)."""
    if label not in (1, 2, "1", "2"):
        raise InvalidInputError(f"'label' must be 1 or 2 (which output is better), got {label!r}")
    return 1.0 if int(label) == 1 else 0.0


def _llmbar(row: dict[str, Any], where: str, default: str, tally: _Tally) -> PreferencePair | None:
    p_first = _llmbar_p_first(row.get("label"))
    context = _prompt(_string(row, "input", empty=False), "input")
    first, second = _string(row, "output_1"), _string(row, "output_2")
    return _pair(context, first, second, p_first, _subset(row, "subset", default), where, tally)


def alpaca_preference(raw: Any) -> tuple[float | None, bool]:
    """AlpacaEval's ``preference`` in [1, 2] (2: output_2 better) and whether it was AlpacaEval's own
    code for a draw, 0 (alpaca_eval metrics: replace({0: 1.5})), read as 1.5. None when unjudged."""
    try:
        preference = float(raw) if raw not in (None, "") else math.nan
    except (TypeError, ValueError):
        raise InvalidInputError(f"'preference' must be a number in [1, 2], got {raw!r}") from None
    if math.isnan(preference):
        return None, False
    if preference == 0:
        return 1.5, True
    if not 1.0 <= preference <= 2.0:
        raise InvalidInputError(f"'preference' must be in [1, 2] (1: output_1 better, 2: output_2), got {raw!r}")
    return preference, False


_ALPACA_DRAW = "AlpacaEval: preference 0 read as a draw (1.5)"


def _alpaca_eval(row: dict[str, Any], where: str, default: str, tally: _Tally) -> PreferencePair | None:
    preference, draw_code = alpaca_preference(row.get("preference"))
    if preference is None:
        tally.skipped["AlpacaEval: no preference"] += 1
        return None
    if draw_code:
        tally.notes[_ALPACA_DRAW] += 1
    context = _prompt(_string(row, "instruction", empty=False), "instruction")
    generator = row.get("generator_2") if isinstance(row.get("generator_2"), str) else None
    first, second = _string(row, "output_1"), _string(row, "output_2")
    subset = _subset(row, "subset", _subset(row, "dataset", default))
    return _pair(context, first, second, 2.0 - preference, subset, where, tally, second_generator=generator)


_PAIR_FORMATS = "{chosen, rejected} (hh-rlhf), {prompt, chosen, rejected}, {input, output_1, output_2, label} (LLMBar), {instruction, output_1, output_2, preference} (AlpacaEval)"  # noqa: E501


def _pair_reader(row: dict[str, Any], where: str) -> Any:
    if "output_1" in row and "output_2" in row:
        return _llmbar if "label" in row else _alpaca_eval
    if "chosen" in row and "rejected" in row:
        hh = row.get("prompt") is None and isinstance(row["chosen"], str) and isinstance(row["rejected"], str)
        return _hh_rlhf if hh else _prompt_chosen_rejected
    raise InvalidInputError(
        f"{where}: cannot tell the format from the keys {sorted(row)}; expected one of {_PAIR_FORMATS}"
    )


def _read_files(files: Sequence[Path], choose: Any) -> tuple[list[Any], _Tally]:
    """Each file's rows through the reader ``choose`` picks from its first row; errors name file:line."""
    items: list[Any] = []
    total = _Tally()
    for path in files:
        tally, reader = _Tally(), None
        for where, row in _rows(path):
            reader = reader or choose(row, where)
            try:
                item = reader(row, where, _stem(path), tally)
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
    files = expand_paths(paths)
    pairs, total = _read_files(files, _pair_reader)
    if not pairs:
        names = ", ".join(map(str, files))
        raise InvalidInputError(f"no usable preference pairs in {names} (skipped: {dict(total.skipped)})")
    return PairData(pairs, [str(f) for f in files], dict(total.skipped), dict(total.notes))


# ---------------------------------------------------------------------------------- unlabeled pairs


def _unlabeled(
    context: Conversation, first: str, second: str, where: str, tally: _Tally, p_first: float | None = None
) -> UnlabeledPair | None:
    """As `_pair`, for pairs whose label is not needed."""
    if first == second:
        tally.skipped[_SAME_TEXT] += 1
        return None
    return UnlabeledPair(context, first, second, source=where, p_first=p_first)


def _response_ab(row: dict[str, Any], where: str, default: str, tally: _Tally) -> UnlabeledPair | None:
    key = "prompt" if "prompt" in row else "messages" if "messages" in row else None
    if key is None:
        raise InvalidInputError("needs the context as 'prompt' (a string or messages) or 'messages' (a list)")
    context = validate_context(_prompt(row[key], key), f"'{key}'")
    return _unlabeled(context, _string(row, "response_a"), _string(row, "response_b"), where, tally)


def _known_p_first(row: dict[str, Any], tally: _Tally) -> float | None:
    """P(output_1 better) where an LLMBar or AlpacaEval row has a label; None where it has none. A
    label that is there but means nothing is still an error: the file is not what it seems."""
    if row.get("label") is not None:
        return _llmbar_p_first(row["label"])
    preference, draw_code = alpaca_preference(row.get("preference"))
    if draw_code:
        tally.notes[_ALPACA_DRAW] += 1
    return None if preference is None else 2.0 - preference


def _two_outputs(row: dict[str, Any], where: str, default: str, tally: _Tally) -> UnlabeledPair | None:
    """An LLMBar {input, ...} or AlpacaEval {instruction, ...} row, its label not needed."""
    key = next((k for k in ("instruction", "input") if k in row), None)
    if key is None:
        raise InvalidInputError("needs the task as 'input' (LLMBar) or 'instruction' (AlpacaEval)")
    context = _prompt(_string(row, key, empty=False), key)
    first, second = _string(row, "output_1"), _string(row, "output_2")
    return _unlabeled(context, first, second, where, tally, p_first=_known_p_first(row, tally))


def _ignoring_label(reader: Any) -> Any:
    def read(row: dict[str, Any], where: str, default: str, tally: _Tally) -> UnlabeledPair | None:
        pair = reader(row, where, default, tally)
        return None if pair is None else UnlabeledPair(pair.context, pair.first, pair.second, where, pair.p_first)

    return read


def _unlabeled_reader(row: dict[str, Any], where: str) -> Any:
    if "response_a" in row and "response_b" in row:
        return _response_ab
    if "output_1" in row and "output_2" in row:
        return _two_outputs
    try:
        return _ignoring_label(_pair_reader(row, where))
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
    files = expand_paths(paths)
    pairs, total = _read_files(files, _unlabeled_reader)
    if not pairs:
        names = ", ".join(map(str, files))
        raise InvalidInputError(f"no usable response pairs in {names} (skipped: {dict(total.skipped)})")
    return UnlabeledData(pairs, [str(f) for f in files], dict(total.skipped), dict(total.notes))


# ------------------------------------------------------------------------------------ multiple choice


def _answers(text: str) -> list[str]:
    """TruthfulQA's answer lists: separated by ';' (mostly '; '), a trailing ';' leaves an empty one."""
    return [a.strip() for a in text.split(";")]


def _truthfulqa(row: dict[str, Any], default: str) -> tuple[Conversation, str, list[str], str]:
    context = _prompt(_string(row, "Question", empty=False), "Question")
    correct = _string(row, "Best Answer", empty=False).strip()
    return context, correct, _answers(_string(row, "Incorrect Answers")), _subset(row, "Category", default)


def _mc_jsonl(row: dict[str, Any], default: str) -> tuple[Conversation, str, list[str], str]:
    key = next((k for k in ("messages", "prompt", "question") if k in row), None)
    if key is None:
        raise InvalidInputError("needs the question as 'question' or 'prompt' (a string) or 'messages' (a list)")
    context = _prompt(row[key], key)
    correct = _string(row, "correct", empty=False).strip()
    incorrect = row.get("incorrect")
    if not isinstance(incorrect, list) or not all(isinstance(a, str) for a in incorrect):
        raise InvalidInputError("'incorrect' must be a list of strings")
    return context, correct, [a.strip() for a in incorrect], _subset(row, "subset", default)


def _mc_reader(row: dict[str, Any], where: str) -> Any:
    if {"Question", "Best Answer", "Incorrect Answers"} <= row.keys():
        return _truthfulqa
    if "correct" in row and "incorrect" in row:
        return _mc_jsonl
    raise InvalidInputError(
        f"{where}: cannot tell the format from the keys {sorted(row)}; expected TruthfulQA's CSV columns "
        "(Question, Best Answer, Incorrect Answers, Category) or {question|prompt|messages, correct, incorrect}"
    )


def _clean_incorrect(correct: str, incorrect: list[str], tally: _Tally) -> list[str]:
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


def read_multiple_choice(paths: str | Path | Sequence[str | Path]) -> McData:
    """Multiple-choice questions (TruthfulQA CSV or JSON Lines) from files and directories."""
    files = expand_paths(paths, (*JSON_SUFFIXES, *CSV_SUFFIXES))
    questions: list[MultipleChoice] = []
    total = _Tally()
    for path in files:
        tally, reader = _Tally(), None
        for where, row in _rows(path):
            reader = reader or _mc_reader(row, where)
            try:
                context, correct, incorrect, subset = reader(row, _stem(path))
            except InvalidInputError as exc:
                raise InvalidInputError(f"{where}: {exc}") from None
            incorrect = _clean_incorrect(correct, incorrect, tally)
            if not incorrect:
                tally.skipped["no incorrect answer left to compare with"] += 1
                continue
            questions.append(MultipleChoice(context, correct, incorrect, subset, source=where))
        _log(tally, path)
        total.skipped.update(tally.skipped)
        total.notes.update(tally.notes)
    if not questions:
        names = ", ".join(map(str, files))
        raise InvalidInputError(f"no usable questions in {names} (skipped: {dict(total.skipped)})")
    return McData(questions, [str(f) for f in files], dict(total.skipped), dict(total.notes))
