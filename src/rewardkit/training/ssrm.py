"""Semi-supervised reward modelling (SSRM) rounds for a linear head on cached features.

Round 0 trains on the labeled pairs alone. Each later round scores every unlabeled pair with the
head of the round before, keeps the pairs it is confident about (max(p, 1 - p) >= threshold), makes
the predicted winner "chosen", and trains again on labeled + pseudo-labeled pairs from the same seeded
initialization, so that rounds differ only by their data and their figures compare. Knows pairs and
tensors; files, features and checkpoints are the trainer's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardkit.data.files import write_text_atomic
from rewardkit.data.readers import read_unlabeled_pairs
from rewardkit.data.records import UnlabeledPair
from rewardkit.errors import InvalidInputError
from rewardkit.training.head import HeadTraining, train_head
from rewardkit.training.pairs import TrainingPair
from rewardkit.types import Conversation, conversation_key

__all__ = ["PseudoLabels", "SSRMRun", "SSRMSettings", "confidence", "pseudo_label", "read_pool", "train_rounds"]

HELD_OUT = "the same two responses as a held-out test pair"
LABELED = "the same two responses as a labeled training pair"


@dataclass(frozen=True)
class SSRMSettings:
    """``rounds`` pseudo-labelling rounds after round 0 (labeled data only); a pair becomes a
    pseudo-label when the head's confidence max(p, 1 - p) is at least ``threshold``."""

    rounds: int = 3
    threshold: float = 0.8

    def __post_init__(self) -> None:
        if self.rounds < 0:
            raise InvalidInputError(f"SSRM rounds must be 0 or more, got {self.rounds}")
        if not 0.5 <= self.threshold <= 1.0:
            raise InvalidInputError(f"the SSRM threshold is a confidence in [0.5, 1], got {self.threshold}")


def confidence(first: Any, second: Any, weight: Any) -> Any:
    """p(first is better) under a linear head, float64 [n]: the mean of sigmoid(r_a - r_b) and
    1 - sigmoid(r_b - r_a), the pair shown in both orders. A pointwise head scores each response on
    its own, so the two orders agree exactly; the symmetric definition is kept so that the figure
    means the same for a head that sees both responses and may favour a position."""
    import torch

    a = (first @ weight.T).flatten().double()
    b = (second @ weight.T).flatten().double()
    return (torch.sigmoid(a - b) + (1.0 - torch.sigmoid(b - a))) / 2


@dataclass(frozen=True)
class PseudoLabels:
    """One round's verdict on the unlabeled pairs: p(first is better), which are kept, which side won
    (a tie, p = 0.5, goes to the first response, and is kept only at threshold 0.5)."""

    p_first: Any
    kept: Any
    first_wins: Any

    def oriented(self, first: Any, second: Any) -> tuple[Any, Any]:
        """(chosen, rejected) features of the kept pairs: the predicted winner is chosen."""
        import torch

        wins = self.first_wins[self.kept, None]
        a, b = first[self.kept], second[self.kept]
        return torch.where(wins, a, b), torch.where(wins, b, a)

    def digest(self) -> str:
        """Names the pseudo-labelled training set, so resumed head state always matches its data."""
        marks = bytes(int(k) + int(k and w) for k, w in zip(self.kept.tolist(), self.first_wins.tolist()))
        return hashlib.sha256(marks).hexdigest()[:16]

    def agreement(self, labels: Sequence[float | None]) -> tuple[float | None, int]:
        """(share of kept pairs whose pseudo-label matches the file's label, how many had one); the
        share is None (unknown) when no kept pair carries a decided label."""
        matches = [
            (label > 0.5) == bool(wins)
            for label, keep, wins in zip(labels, self.kept.tolist(), self.first_wins.tolist())
            if keep and label is not None and label != 0.5
        ]
        return (sum(matches) / len(matches) if matches else None), len(matches)


def pseudo_label(first: Any, second: Any, weight: Any, threshold: float) -> PseudoLabels:
    """Keep the pairs with confidence max(p, 1 - p) >= threshold, the label following the prediction."""
    import torch

    p = confidence(first, second, weight)
    return PseudoLabels(p_first=p, kept=torch.maximum(p, 1.0 - p) >= threshold, first_wins=p >= 0.5)


def _content(context: Conversation, a: str, b: str) -> tuple[Any, ...]:
    """A pair's content whatever the order of its responses and the key order of its messages."""
    return conversation_key(context), tuple(sorted((a, b)))


def read_pool(
    paths: Sequence[str | Path], held_out: Sequence[TrainingPair], labeled: Sequence[TrainingPair] = ()
) -> tuple[list[UnlabeledPair], dict[str, Any]]:
    """The unlabeled pairs, less those with the same two responses to the same context as a held-out
    test pair (which would leak the test set into training) or as a labeled training pair (whose true
    label is already used); (pairs, summary with the counts)."""
    data = read_unlabeled_pairs(paths)
    test = {_content(p.context, p.chosen, p.rejected) for p in held_out}
    train = {_content(p.context, p.chosen, p.rejected) for p in labeled}
    pool, dropped = [], {HELD_OUT: 0, LABELED: 0}
    for pair in data.pairs:
        content = _content(pair.context, pair.first, pair.second)
        if content in test:
            dropped[HELD_OUT] += 1
        elif content in train:
            dropped[LABELED] += 1
        else:
            pool.append(pair)
    if not pool:
        raise InvalidInputError(f"no unlabeled pairs left in {', '.join(map(str, paths))} (dropped: {dropped})")
    summary = {"files": data.files, "pairs": len(pool), "dropped": {**data.skipped, **dropped}}
    return pool, summary


@dataclass
class SSRMRun:
    """The last round's head and losses, and the figures of every round."""

    weight: Any
    losses: list[float]
    rounds: list[dict[str, Any]]


def train_rounds(
    labeled: tuple[Any, Any, Any],
    pool: Sequence[UnlabeledPair],
    pool_features: tuple[Any, Any],
    settings: HeadTraining,
    ssrm: SSRMSettings,
    *,
    evaluate: Callable[[Any], dict[str, Any] | None],
    state_dir: Path,
    progress: bool = False,
) -> SSRMRun:
    """Round 0 on ``labeled`` (chosen, rejected, margin features), then ``ssrm.rounds`` rounds on
    labeled + pseudo-labeled pairs. Every round's head state is kept under ``state_dir``, named by its
    data, and every round's verdicts are written there (ssrm/round-K.pseudo-labels.jsonl), so an
    interrupted run resumes and a reader can see which pairs were used and why."""
    import torch

    chosen, rejected, margin = labeled
    first, second = pool_features
    folder = state_dir / "ssrm"
    folder.mkdir(parents=True, exist_ok=True)
    weight, losses = train_head(
        chosen, rejected, margin, settings, state_path=state_dir / "head_state.pt", progress=progress
    )
    rounds = [_figures(0, len(chosen), None, pool, evaluate(weight), losses)]
    for k in range(1, ssrm.rounds + 1):
        labels = pseudo_label(first, second, weight, ssrm.threshold)
        _write_verdicts(folder / f"round-{k}.pseudo-labels.jsonl", pool, labels)
        extra_c, extra_r = labels.oriented(first, second)
        train_c, train_r = torch.cat([chosen, extra_c]), torch.cat([rejected, extra_r])
        train_m = torch.cat([margin, torch.zeros(len(extra_c), dtype=margin.dtype)])
        state = folder / f"round-{k}.head_state-{labels.digest()}.pt"
        weight, losses = train_head(train_c, train_r, train_m, settings, state_path=state, progress=progress)
        rounds.append(_figures(k, len(train_c), labels, pool, evaluate(weight), losses))
    return SSRMRun(weight, losses, rounds)


def _figures(
    k: int,
    train_pairs: int,
    labels: PseudoLabels | None,
    pool: Sequence[UnlabeledPair],
    held_out: dict[str, Any] | None,
    losses: list[float],
) -> dict[str, Any]:
    """One round's report entry. The agreement is None where it is unknown: in round 0 (no
    pseudo-labels) and where no kept pair has a decided label in its file."""
    agreement, with_label = labels.agreement([p.p_first for p in pool]) if labels is not None else (None, 0)
    return {
        "round": k,
        "train_pairs": train_pairs,
        "pseudo_labels": int(labels.kept.sum()) if labels is not None else 0,
        "pseudo_label_agreement": agreement,
        "pseudo_labels_with_a_label": with_label,
        "held_out": held_out,
        "losses": losses,
    }


def _write_verdicts(path: Path, pool: Sequence[UnlabeledPair], labels: PseudoLabels) -> None:
    """One line per unlabeled pair: where it came from, p(first is better), kept or not, the predicted
    winner and the file's own label (None where it has none)."""
    lines = []
    for pair, p, keep, wins in zip(pool, labels.p_first.tolist(), labels.kept.tolist(), labels.first_wins.tolist()):
        winner = "first" if wins else "second"
        row = {"source": pair.source, "p_first": p, "kept": keep, "winner": winner, "label": pair.p_first}
        lines.append(json.dumps(row) + "\n")
    write_text_atomic(path, "".join(lines))
