"""Training pairs from the dataset readers: chosen/rejected orientation, margins, a stable split.

Knows nothing about models: the split depends only on a pair's text, so the same data always gives
the same held-out set, whatever the seed, the order of files or the machine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from rewardkit.data.records import PreferencePair
from rewardkit.types import Conversation

__all__ = ["TrainingPair", "oriented", "split_pairs"]


@dataclass(frozen=True)
class TrainingPair:
    context: Conversation
    chosen: str
    rejected: str
    margin: float = 0.0
    source: str = ""
    p: float = 1.0
    """P(chosen is better): 1.0 for a hard label, in (0.5, 1) for a soft one (the loss's target)."""

    def key(self) -> str:
        text = repr((self.context, self.chosen, self.rejected))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def oriented(pairs: Sequence[PreferencePair]) -> tuple[list[TrainingPair], int]:
    """Chosen first; soft labels count for the side they favour, and ``p`` keeps how strongly
    (P(chosen better), used by soft-label training); exact draws (0.5) carry no preference and are
    dropped (their count is returned)."""
    out, draws = [], 0
    for pair in pairs:
        if pair.p_first == 0.5:
            draws += 1
            continue
        chosen, rejected = (pair.first, pair.second) if pair.p_first > 0.5 else (pair.second, pair.first)
        p = max(pair.p_first, 1.0 - pair.p_first)
        out.append(TrainingPair(pair.context, chosen, rejected, pair.margin, pair.source, p=p))
    return out, draws


def split_pairs(pairs: Sequence[TrainingPair], test_fraction: float) -> tuple[list[TrainingPair], list[TrainingPair]]:
    """(train, test): a pair is held out when its content hash falls in the first ``test_fraction``."""
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    train, test = [], []
    for pair in pairs:
        (test if int(pair.key()[:8], 16) / 0xFFFFFFFF < test_fraction else train).append(pair)
    return train, test
