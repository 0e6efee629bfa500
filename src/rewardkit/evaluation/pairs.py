"""`rewardkit eval pairs`: score both responses of every preference pair, then measure agreement with
the labels, overall, per subset, per RewardBench section and for each ensemble member.

Knows the Scorer protocol and the metrics, nothing about models or files: all distinct responses go
to the scorer in one call (so it can batch them as it likes), or, for a pairwise preference model,
all pairs in one `prefer` call, read as score_first = P(first better), score_second = 1 - that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rewardkit.data.records import PairData, PreferencePair
from rewardkit.errors import InvalidInputError, ModelOutputError
from rewardkit.evaluation.metrics import (
    PairMetrics,
    SectionScores,
    group_indices,
    pair_metrics,
    rewardbench_sections,
)
from rewardkit.scoring.scorer import PairToJudge, Scorer, ScoreTable
from rewardkit.types import Conversation, conversation_key, with_answer

__all__ = ["PairResults", "PairsReport", "evaluate_pairs", "score_columns", "score_conversations", "score_distinct"]


@dataclass(frozen=True)
class PairResults:
    """One score's (the combined one, or one member's) agreement with the labels."""

    overall: PairMetrics
    subsets: dict[str, PairMetrics]
    rewardbench: SectionScores | None

    def as_dict(self) -> dict[str, object]:
        return {
            "overall": self.overall.as_dict(),
            "subsets": {name: m.as_dict() for name, m in self.subsets.items()},
            "rewardbench": self.rewardbench.as_dict() if self.rewardbench else None,
        }


@dataclass(frozen=True)
class PairsReport:
    """``members`` is empty for a single model; ``by_generator`` groups the combined score by the
    model that wrote the second response, where the data says (AlpacaEval)."""

    scorer: str
    pairwise: bool
    soft_labels: bool
    combined: PairResults
    members: dict[str, PairResults]
    by_generator: dict[str, PairMetrics]
    files: list[str]
    skipped: dict[str, int]
    notes: dict[str, int]

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": "pairs",
            "scorer": self.scorer,
            "pairwise": self.pairwise,
            "soft_labels": self.soft_labels,
            "combined": self.combined.as_dict(),
            "members": {name: r.as_dict() for name, r in self.members.items()},
            "by_generator": {name: m.as_dict() for name, m in self.by_generator.items()},
            "data": {"files": self.files, "skipped": self.skipped, "notes": self.notes},
        }


def score_columns(table: ScoreTable, sources: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The combined scores and each member's, checked: one finite score per input. A single member
    that equals the combined score is dropped (a single model is not an ensemble)."""
    combined = _checked("combined", table.combined, sources)
    members = {name: _checked(name, values, sources) for name, values in table.members.items()}
    if len(members) == 1 and np.array_equal(next(iter(members.values())), combined):
        members = {}
    return combined, members


def score_distinct(
    scorer: Scorer, conversations: Sequence[Conversation], sources: Sequence[str], *, progress: bool
) -> ScoreTable:
    """One scorer.score call over the distinct conversations, checked by `score_columns` and laid
    back out over all of them: the same text always gets the same score (a batch can move a score
    in its last bits, which would break a tie). Token counts come along where the scorer gives them."""
    positions: dict[tuple[tuple[str, str], ...], int] = {}
    inverse = np.array([positions.setdefault(conversation_key(c), i) for i, c in enumerate(conversations)], dtype=int)
    first = np.array(sorted(positions.values()), dtype=int)
    rank = np.zeros(len(conversations), dtype=int)
    rank[first] = np.arange(len(first))
    table = scorer.score([conversations[i] for i in first], progress=progress)
    combined, members = score_columns(table, [sources[i] for i in first])
    at = rank[inverse]
    members = {name: values[at] for name, values in members.items()}
    tokens, truncated = (_spread(values, len(first), at) for values in (table.tokens, table.truncated))
    return ScoreTable(combined[at], members, tokens, truncated)


def _spread(values: np.ndarray | None, n: int, at: np.ndarray) -> np.ndarray | None:
    return None if values is None or np.shape(values) != (n,) else np.asarray(values)[at]


def score_conversations(
    scorer: Scorer, conversations: Sequence[Conversation], sources: Sequence[str], *, progress: bool
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The combined and member scores of `score_distinct`."""
    table = score_distinct(scorer, conversations, sources, progress=progress)
    return table.combined, table.members


def _checked(name: str, values: np.ndarray, sources: Sequence[str]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.shape != (len(sources),):
        raise ModelOutputError(f"the scorer returned {array.shape} {name} scores for {len(sources)} inputs")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise ModelOutputError(f"{sources[bad[0]]}: {name} score is {array[bad[0]]} ({bad.size} non-finite in all)")
    return array


def _results(s1: np.ndarray, s2: np.ndarray, p: np.ndarray, groups: dict[str, np.ndarray]) -> PairResults:
    subsets = {name: pair_metrics(s1[idx], s2[idx], p[idx]) for name, idx in groups.items()}
    sections = rewardbench_sections({k: m.accuracy for k, m in subsets.items()}, {k: m.n for k, m in subsets.items()})
    return PairResults(pair_metrics(s1, s2, p), subsets, sections)


def evaluate_pairs(scorer: Scorer, pairs: PairData | Sequence[PreferencePair], *, progress: bool = True) -> PairsReport:
    """Agreement of ``scorer`` with the labels of ``pairs`` (a PairData also brings its file notes)."""
    items = list(pairs.pairs if isinstance(pairs, PairData) else pairs)
    if not items:
        raise InvalidInputError("no preference pairs to evaluate")
    n = len(items)
    p = np.array([x.p_first for x in items], dtype=float)
    if scorer.pairwise:
        prob = np.full(n, 0.5)  # a response is not better than itself: no need to ask
        asked = [i for i, x in enumerate(items) if x.first != x.second]
        if asked:
            judged = scorer.prefer(
                [PairToJudge(items[i].context, items[i].first, items[i].second) for i in asked], progress=progress
            )
            prob[asked] = _checked("preference", judged, [items[i].source for i in asked])
        scores, members = np.concatenate([prob, 1.0 - prob]), {}
    else:
        conversations = [with_answer(x.context, x.first) for x in items]
        conversations += [with_answer(x.context, x.second) for x in items]
        scores, members = score_conversations(scorer, conversations, [x.source for x in items] * 2, progress=progress)
    groups = group_indices([x.subset for x in items])
    generators = [x.second_generator for x in items]
    by_generator = {}
    if any(generators):
        named = group_indices([g or "(unknown)" for g in generators])
        by_generator = {g: pair_metrics(scores[idx], scores[n + idx], p[idx]) for g, idx in named.items()}
    data = pairs if isinstance(pairs, PairData) else None
    return PairsReport(
        scorer=scorer.name,
        pairwise=scorer.pairwise,
        soft_labels=bool(np.any((p != 0.0) & (p != 1.0))),
        combined=_results(scores[:n], scores[n:], p, groups),
        members={name: _results(v[:n], v[n:], p, groups) for name, v in members.items()},
        by_generator=by_generator,
        files=data.files if data else [],
        skipped=data.skipped if data else {},
        notes=data.notes if data else {},
    )
