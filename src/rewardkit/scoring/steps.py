"""The steps a scoring plan yields: what to score, never how.

Every front end (RewardModel, RewardService, Ensemble, EnsembleService, RemoteMember) answers
these three; group operations (compare, rank, best-of-N) are plans built from them
(`scoring/plans.py`). Plain data: no torch, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rewardkit.errors import InvalidInputError
from rewardkit.scoring.pairwise import PairQuestion
from rewardkit.types import Conversation

__all__ = ["ComparePairs", "ScoreConversations", "ScoreTexts", "Step", "as_list"]


def as_list(values: Iterable[Any], what: str = "inputs") -> list[Any]:
    """A caller's sequence of inputs as a list; a lone string or message is a caller error, not a
    list of characters or keys."""
    if isinstance(values, (str, bytes, dict)):
        raise InvalidInputError(f"expected a list of {what}; wrap a single one in a list")
    return list(values)


@dataclass(frozen=True)
class ScoreTexts:
    """Rewards for full texts (chat template already applied): answered with one ScoreResult each."""

    texts: Sequence[str]
    objective: str | None = None


@dataclass(frozen=True)
class ScoreConversations:
    """Rewards for conversations ending with the assistant response: one ScoreResult each."""

    conversations: Sequence[Conversation]
    objective: str | None = None


@dataclass(frozen=True)
class ComparePairs:
    """Pairwise preference models only: answered with (P_A(first, second), P_A(second, first)) per
    question, the model's probability that the response shown first is better, in both orders."""

    questions: Sequence[PairQuestion]


Step = ScoreTexts | ScoreConversations | ComparePairs
