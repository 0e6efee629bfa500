"""`rewardkit eval mc`: score every choice of every multiple-choice question and measure where the
correct answer ranks, overall, per subset and for each ensemble member.

Knows the Scorer protocol and the metrics, nothing about models or files. All distinct choices go to
the scorer in one call. A pairwise preference model has no score per answer: it judges the correct
answer against each incorrect one in one `prefer` call, read as scores 0.5 for the correct answer
and 1 - P(correct better) for each incorrect one, so ranks and top-1 keep their meaning (an
incorrect answer ranks above when it is at least as likely to win) while the mean scores are then
only relative to 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from rewardkit.data.records import McData, MultipleChoice
from rewardkit.errors import InvalidInputError, ModelOutputError
from rewardkit.evaluation.metrics import McMetrics, group_indices, mc_metrics
from rewardkit.evaluation.pairs import score_columns, score_conversations
from rewardkit.scoring.scorer import PairToJudge, Scorer, ScoreTable
from rewardkit.types import with_answer

__all__ = ["McReport", "McResults", "evaluate_mc"]


@dataclass(frozen=True)
class McResults:
    """One score's (the combined one, or one member's) ranking of the correct answers."""

    overall: McMetrics
    subsets: dict[str, McMetrics]

    def as_dict(self) -> dict[str, object]:
        return {"overall": self.overall.as_dict(), "subsets": {k: m.as_dict() for k, m in self.subsets.items()}}


@dataclass(frozen=True)
class McReport:
    """``members`` is empty for a single model."""

    scorer: str
    pairwise: bool
    combined: McResults
    members: dict[str, McResults]
    files: list[str]
    skipped: dict[str, int]
    notes: dict[str, int]

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": "mc",
            "scorer": self.scorer,
            "pairwise": self.pairwise,
            "combined": self.combined.as_dict(),
            "members": {name: r.as_dict() for name, r in self.members.items()},
            "data": {"files": self.files, "skipped": self.skipped, "notes": self.notes},
        }


def _results(scores: np.ndarray, offsets: np.ndarray, groups: dict[str, np.ndarray]) -> McResults:
    """Scores of all choices laid out question after question, the correct answer first in each."""
    correct = scores[offsets[:-1]]
    incorrect = [scores[a + 1 : b] for a, b in pairwise(offsets)]
    subsets = {name: mc_metrics(correct[idx], [incorrect[i] for i in idx]) for name, idx in groups.items()}
    return McResults(mc_metrics(correct, incorrect), subsets)


def _pairwise_table(scorer: Scorer, items: list[MultipleChoice], progress: bool) -> ScoreTable:
    pairs = [PairToJudge(q.context, q.correct, bad) for q in items for bad in q.incorrect]
    p_correct = np.asarray(scorer.prefer(pairs, progress=progress), dtype=float)
    if p_correct.shape != (len(pairs),):
        raise ModelOutputError(f"the scorer returned {p_correct.shape} preferences for {len(pairs)} pairs")
    scores, k = [], 0
    for q in items:
        scores.append(0.5)
        scores.extend(1.0 - p_correct[k : k + len(q.incorrect)])
        k += len(q.incorrect)
    return ScoreTable(combined=np.array(scores))


def evaluate_mc(scorer: Scorer, questions: McData | Sequence[MultipleChoice], *, progress: bool = True) -> McReport:
    """Where ``scorer`` ranks the correct answer of each question (a McData also brings its file notes)."""
    items = list(questions.questions if isinstance(questions, McData) else questions)
    if not items:
        raise InvalidInputError("no multiple-choice questions to evaluate")
    if any(not q.incorrect for q in items):
        raise InvalidInputError("every question needs at least one incorrect answer")
    offsets = np.cumsum([0] + [1 + len(q.incorrect) for q in items])
    sources = [q.source for q in items for _ in q.choices]
    if scorer.pairwise:
        scores, members = score_columns(_pairwise_table(scorer, items, progress), sources)
    else:
        conversations = [with_answer(q.context, c) for q in items for c in q.choices]
        scores, members = score_conversations(scorer, conversations, sources, progress=progress)
    groups = group_indices([q.subset for q in items])
    data = questions if isinstance(questions, McData) else None
    return McReport(
        scorer=scorer.name,
        pairwise=scorer.pairwise,
        combined=_results(scores, offsets, groups),
        members={name: _results(v, offsets, groups) for name, v in members.items()},
        files=data.files if data else [],
        skipped=data.skipped if data else {},
        notes=data.notes if data else {},
    )
