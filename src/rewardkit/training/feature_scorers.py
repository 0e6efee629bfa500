"""Scorers over cached features, so `rewardkit eval`'s own runners (pairs, multiple choice,
Best-of-N) measure trained heads without another forward pass.

A linear head's reward is its weight times the pooled feature; ``HeadScorer`` computes exactly
that for several heads at once (one is the combined score, the others are reported as members, the
way an ensemble's are), and ``LengthScorer`` is the length baseline (the longer response wins).
Both are pointwise: asked which of two responses is better, they answer as a served pointwise model
does, with the sigmoid of the reward gap.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rewardkit.scoring.pairwise import comparison
from rewardkit.scoring.scorer import PairToJudge, ScoreTable
from rewardkit.training.features import FeatureBank
from rewardkit.types import Conversation, with_answer

__all__ = ["HeadScorer", "LengthScorer"]


class _Pointwise(ABC):
    """``prefer`` for a scorer that has a reward per response."""

    pairwise = False

    @abstractmethod
    def score(self, conversations: Sequence[Conversation], *, progress: bool = False) -> ScoreTable: ...

    def prefer(self, pairs: Sequence[PairToJudge], *, progress: bool = False) -> np.ndarray:
        conversations = [with_answer(p.context, text) for p in pairs for text in (p.first, p.second)]
        rewards = self.score(conversations, progress=progress).combined
        return np.array([comparison(scores=rewards[i : i + 2]).probability for i in range(0, len(rewards), 2)])


class HeadScorer(_Pointwise):
    """Rewards of linear heads on a FeatureBank's features: ``heads[primary]`` is the combined score,
    every head (the primary too) a member; bias-free, like the built-in's ``score`` layer."""

    def __init__(self, bank: FeatureBank, heads: Mapping[str, Any], primary: str) -> None:
        if primary not in heads:
            raise ValueError(f"the primary head {primary!r} is not among {sorted(heads)}")
        self.bank, self.heads, self.primary, self.name = bank, dict(heads), primary, primary

    def score(self, conversations: Sequence[Conversation], *, progress: bool = False) -> ScoreTable:
        import torch

        features = self.bank.features(conversations)
        members = {}
        for name, weight in self.heads.items():
            w = torch.as_tensor(weight, dtype=features.dtype).reshape(-1)
            members[name] = (features @ w).double().numpy()
        return ScoreTable(combined=members[self.primary], members=members)


class LengthScorer(_Pointwise):
    """The length baseline: a response's reward is its length in characters."""

    name = "length"

    def score(self, conversations: Sequence[Conversation], *, progress: bool = False) -> ScoreTable:
        return ScoreTable(combined=np.array([float(len(c[-1]["content"])) for c in conversations]))
