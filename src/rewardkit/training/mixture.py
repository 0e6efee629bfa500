"""The built-in model's training mix, as data: AlpacaEval instructions split into train and held-out
by instruction, judged candidates turned into soft-labelled pairs, and pairs balanced for length.

Knows pairs and numbers, nothing about models. Every choice is a function of the texts (hashes), so
the same data always gives the same split and the same pairs, on any machine.

AlpacaEval's judge compared each generator's answer with one reference answer; ``gold`` is
P(answer beats the reference). Two answers to the same instruction are compared through the
reference, as a Bradley-Terry model would: P(a beats b) = sigmoid(logit(gold_a) - logit(gold_b)).
The judge prefers the longer answer in most of its pairs, so a head trained on its labels as they
are learns length. Two controls: ``length_balanced`` keeps as many pairs where the preferred answer is
the shorter one as pairs where it is the longer one (and so drops most pairs), and
``length_adjusted`` keeps every pair but takes out of each label the part that length predicts, the
way AlpacaEval's length-controlled win rate does: fit logit(p) ~ beta * log(length ratio) over the
pairs, and train on logit(p) - beta * log(length ratio).
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import combinations
from typing import Any

from rewardkit.training.pairs import TrainingPair
from rewardkit.types import Conversation

__all__ = [
    "Candidate",
    "Instruction",
    "hash_unit",
    "held_out",
    "instruction_context",
    "instructions_from_pool",
    "judged_pairs",
    "length_adjusted",
    "length_balanced",
    "length_slope",
    "split_instructions",
]

GOLD_CLIP = 0.01
"""Gold scores are clipped into [GOLD_CLIP, 1 - GOLD_CLIP] before the logit. Most answers of weaker
generators lose to the reference with P far below 0.01; the judge's tiny probabilities do not rank
two such losers against each other, so a pair of two answers clipped at the same end carries no
label and is left out (``judged_pairs``)."""


def hash_unit(text: str, salt: str = "") -> float:
    """A stable number in [0, 1) from a text."""
    return int(hashlib.sha256((salt + text).encode("utf-8")).hexdigest()[:8], 16) / 0x100000000


def held_out(key: str, fraction: float) -> bool:
    """Whether the item with this key is in the held-out ``fraction`` (by its hash)."""
    return hash_unit(key) < fraction


@dataclass(frozen=True)
class Candidate:
    text: str
    gold: float
    generator: str


@dataclass(frozen=True)
class Instruction:
    """One instruction and its distinct judged answers (identical texts merged, first kept)."""

    instruction: str
    candidates: tuple[Candidate, ...]

    @property
    def context(self) -> Conversation:
        return instruction_context(self.instruction)


def instruction_context(instruction: str) -> Conversation:
    """An AlpacaEval instruction as the conversation its answers reply to."""
    return [{"role": "user", "content": instruction}]


def instructions_from_pool(rows: Sequence[dict[str, Any]]) -> list[Instruction]:
    """Rows of ``evaluation.bon.alpaca_eval_pool`` as Instructions, identical answers merged."""
    out = []
    for row in rows:
        seen: dict[str, Candidate] = {}
        for c in row["candidates"]:
            seen.setdefault(c["text"], Candidate(c["text"], float(c["gold"]), str(c.get("generator", ""))))
        out.append(Instruction(row["instruction"], tuple(seen.values())))
    return out


def split_instructions(
    instructions: Sequence[Instruction], fraction: float
) -> tuple[list[Instruction], list[Instruction]]:
    """(train, held-out) by instruction text: every answer to a held-out instruction stays out."""
    train, test = [], []
    for item in instructions:
        (test if held_out(item.instruction, fraction) else train).append(item)
    return train, test


def _logit(p: float) -> float:
    p = min(max(p, GOLD_CLIP), 1.0 - GOLD_CLIP)
    return math.log(p / (1.0 - p))


def _clipped_together(a: float, b: float) -> bool:
    return (a <= GOLD_CLIP and b <= GOLD_CLIP) or (a >= 1.0 - GOLD_CLIP and b >= 1.0 - GOLD_CLIP)


def judged_pairs(
    instruction: Instruction, picks: int, min_confidence: float, seed: int = 0, *, drop_unlabeled: bool = True
) -> list[TrainingPair]:
    """Every pair among ``picks`` answers drawn for this instruction (by its hash and ``seed``), the
    better one first, with P(first better) as ``p``. A pair whose golds are both beyond the clip at
    the same end has no label; pairs whose label is within ``min_confidence`` of a coin flip teach
    nothing: both are left out (with ``drop_unlabeled`` False the first kind is kept, at p = 0.5:
    every drawn answer then appears, which is what the feature pass needs)."""
    rng = random.Random(f"{seed}:{instruction.instruction}")
    chosen = rng.sample(list(instruction.candidates), min(picks, len(instruction.candidates)))
    pairs = []
    for a, b in combinations(chosen, 2):
        if drop_unlabeled and _clipped_together(a.gold, b.gold):
            continue
        p = 1.0 / (1.0 + math.exp(-(_logit(a.gold) - _logit(b.gold))))
        if abs(p - 0.5) < min_confidence:
            continue
        better, worse, p = (a, b, p) if p > 0.5 else (b, a, 1.0 - p)
        pairs.append(TrainingPair(instruction.context, better.text, worse.text, p=p, source="alpaca_eval"))
    return pairs


def length_balanced(pairs: Sequence[TrainingPair], seed: int = 0) -> list[TrainingPair]:
    """As many pairs whose preferred answer is the shorter as pairs where it is the longer: the larger
    side is subsampled (by ``seed``); pairs of equal length are kept."""
    shorter = [p for p in pairs if len(p.chosen) < len(p.rejected)]
    longer = [p for p in pairs if len(p.chosen) > len(p.rejected)]
    equal = [p for p in pairs if len(p.chosen) == len(p.rejected)]
    keep = min(len(shorter), len(longer))
    rng = random.Random(seed)
    shorter = rng.sample(shorter, keep) if len(shorter) > keep else shorter
    longer = rng.sample(longer, keep) if len(longer) > keep else longer
    chosen = {id(p) for p in [*shorter, *longer, *equal]}
    return [p for p in pairs if id(p) in chosen]


def _log_length_ratio(pair: TrainingPair) -> float:
    return math.log(max(len(pair.chosen), 1) / max(len(pair.rejected), 1))


def length_slope(pairs: Sequence[TrainingPair], iterations: int = 50) -> float:
    """beta of the logistic fit P(chosen better) = sigmoid(beta * log(len chosen / len rejected)), on
    the pairs' soft labels (Newton's method on the cross-entropy; one parameter, no intercept, since
    swapping a pair's sides flips both the label and the ratio)."""
    beta = 0.0
    for _ in range(iterations):
        gradient, curvature = 0.0, 0.0
        for pair in pairs:
            x = _log_length_ratio(pair)
            q = 1.0 / (1.0 + math.exp(-beta * x))
            gradient += (q - pair.p) * x
            curvature += q * (1.0 - q) * x * x
        if curvature == 0.0:
            return beta
        step = gradient / curvature
        beta -= step
        if abs(step) < 1e-9:
            break
    return beta


def length_adjusted(
    pairs: Sequence[TrainingPair], min_confidence: float = 0.0, beta: float | None = None
) -> tuple[list[TrainingPair], float]:
    """(pairs, beta): each label with length's share taken out, the better side first again; pairs
    whose adjusted label is within ``min_confidence`` of a coin flip are dropped."""
    beta = length_slope(pairs) if beta is None else beta
    out = []
    for pair in pairs:
        p = min(max(pair.p, 1e-6), 1.0 - 1e-6)
        adjusted = 1.0 / (1.0 + math.exp(-(math.log(p / (1.0 - p)) - beta * _log_length_ratio(pair))))
        if abs(adjusted - 0.5) < min_confidence:
            continue
        if adjusted >= 0.5:
            out.append(replace(pair, p=adjusted))
        else:
            out.append(replace(pair, chosen=pair.rejected, rejected=pair.chosen, p=1.0 - adjusted))
    return out, beta
