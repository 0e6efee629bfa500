"""The steps a scoring plan yields: what to score, never how.

Every front end (RewardModel, RewardService, Ensemble, EnsembleService, RemoteMember) answers
these three; group operations (compare, rank, best-of-N) are plans built from them
(`scoring/plans.py`). A step's inputs are always a list (a lone string is refused when the step is
made). Plain data: no torch, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rewardkit.scoring.pairwise import PairQuestion
from rewardkit.types import Conversation, as_list, score_inputs

__all__ = ["ComparePairs", "ScoreConversations", "ScoreTexts", "Step", "as_list", "inputs", "score_step", "sequences"]


@dataclass(frozen=True)
class ScoreTexts:
    """Rewards for full texts (chat template already applied): answered with one ScoreResult each."""

    texts: Sequence[str]
    objective: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "texts", as_list(self.texts, "texts"))


@dataclass(frozen=True)
class ScoreConversations:
    """Rewards for conversations ending with the assistant response: one ScoreResult each."""

    conversations: Sequence[Conversation]
    objective: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "conversations", as_list(self.conversations, "conversations"))


@dataclass(frozen=True)
class ComparePairs:
    """Pairwise preference models only: answered with (P_A(first, second), P_A(second, first)) per
    question, the model's probability that the response shown first is better, in both orders."""

    questions: Sequence[PairQuestion]

    def __post_init__(self) -> None:
        object.__setattr__(self, "questions", as_list(self.questions, "pairs"))


Step = ScoreTexts | ScoreConversations | ComparePairs


def score_step(inputs: Iterable[Any], objective: str | None = None) -> ScoreTexts | ScoreConversations:
    """The step that scores ``inputs``: full texts or conversations (`types.score_inputs`)."""
    kind, items = score_inputs(inputs)
    return ScoreTexts(items, objective) if kind == "texts" else ScoreConversations(items, objective)


def inputs(step: Step) -> list[Any]:
    """What the step holds, one entry per text, conversation or question (always a list)."""
    if isinstance(step, ScoreTexts):
        return step.texts
    if isinstance(step, ScoreConversations):
        return step.conversations
    return step.questions


def sequences(step: Step) -> int:
    """How many sequences the model will read for ``step``: known before anything is tokenized, so
    a server can admit or refuse the work first (a question is read in both orders)."""
    return len(inputs(step)) * (2 if isinstance(step, ComparePairs) else 1)
