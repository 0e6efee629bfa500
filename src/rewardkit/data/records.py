"""What the dataset readers produce: preference pairs, unlabeled pairs and multiple-choice questions,
each with the ``file:line`` it came from, and what a whole read found (with what it skipped or
repaired, counted).

Preference pairs keep the file's orientation: ``first`` / ``second`` are the two responses and
``p_first`` is P(first is better); each format's module says which response it puts first.

Any format: a pair whose two responses are the same text tells nothing about a reward model and is
skipped (AlpacaEval: the reference against itself, 2-4 rows per generator); `pair` and `unlabeled`
apply that rule for every reader.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rewardkit.types import Conversation

__all__ = [
    "CONTEXTS_DIFFER",
    "SAME_TEXT",
    "McData",
    "MultipleChoice",
    "PairData",
    "PreferencePair",
    "Tally",
    "UnlabeledData",
    "UnlabeledPair",
    "pair",
    "unlabeled",
]

SAME_TEXT = "the two responses are the same text"
CONTEXTS_DIFFER = "the two sides differ before the last assistant turn, so they do not answer one context"


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
class Tally:
    """What reading one file skipped and what it repaired, by reason."""

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


def pair(
    context: Conversation, first: str, second: str, p_first: float, subset: str, where: str, tally: Tally, **extra: Any
) -> PreferencePair | None:
    """The pair, or None (skipped and counted) when its two responses are the same text."""
    if first == second:
        tally.skipped[SAME_TEXT] += 1
        return None
    return PreferencePair(context, first, second, p_first, subset, source=where, **extra)


def unlabeled(
    context: Conversation, first: str, second: str, where: str, tally: Tally, p_first: float | None = None
) -> UnlabeledPair | None:
    """As `pair`, for pairs whose label is not needed."""
    if first == second:
        tally.skipped[SAME_TEXT] += 1
        return None
    return UnlabeledPair(context, first, second, source=where, p_first=p_first)
