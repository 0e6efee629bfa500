"""What evaluation runners score with: the `Scorer` protocol and the `ScoreTable` it returns
(`scoring/scorers.py` has the concrete ones: a local model or ensemble, a running server).

Runners know nothing about models, servers or ensembles; they hand a Scorer conversations that end
with the assistant response to score, and read back one combined score per conversation plus each
ensemble member's own score (a single model is an ensemble of one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from rewardkit.types import Conversation

__all__ = ["PairToJudge", "ScoreTable", "Scorer"]


@dataclass(frozen=True)
class ScoreTable:
    """``combined[i]`` is the reward of item i; ``members[name][i]`` each ensemble member's own raw
    reward (before any standardization); empty for a single model. ``tokens[i]`` is how many tokens
    item i came to as the model read it (chat template applied, after any truncation) and
    ``truncated[i]`` whether it was cut; None where the scorer does not say."""

    combined: np.ndarray
    members: dict[str, np.ndarray] = field(default_factory=dict)
    tokens: np.ndarray | None = None
    truncated: np.ndarray | None = None


@dataclass(frozen=True)
class PairToJudge:
    """One question for a pairwise preference model: which of two responses to ``context`` is better."""

    context: Conversation
    first: str
    second: str


class Scorer(Protocol):
    name: str
    pairwise: bool
    """True for a pairwise preference model: it has no reward for one response, only `prefer`."""

    def score(self, conversations: Sequence[Conversation], *, progress: bool = False) -> ScoreTable:
        """Rewards for conversations that end with the assistant response to score, in order."""
        ...

    def prefer(self, pairs: Sequence[PairToJudge], *, progress: bool = False) -> np.ndarray:
        """P(first better than second) for each pair (pairwise models; both orders averaged)."""
        ...
