"""`rewardkit eval rewardbench2`: RewardBench 2, scored as its authors' code scores it
(allenai/reward-bench: scripts/run_v2.py ``main``, rewardbench/utils.py ``reroll_and_score_dataset``,
``_compute_prompt_stats`` and ``process_single_model``).

- Each answer of a row is scored on its own, the answers in the order chosen then rejected.
- A row scores 1 / (number of answers at the maximum) when its FIRST answer is at the maximum, else 0
  (``reroll_and_score_dataset``): a tie at the top is shared, not won.
- A subset's score is the mean over its rows, except Ties (`ties_score`, ``process_single_model``).
- The final score is the unweighted mean of the subset scores: the paper's and the leaderboard's
  rule (the authors' script prints the subsets only).

The length baseline runs the same rules with each answer's length as its score. Pure numpy over
scores; the runner knows the Scorer protocol, not models or files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from rewardkit.data.rewardbench2 import Rb2Meta, Rb2Row, is_ties
from rewardkit.data.streams import CheckedRows
from rewardkit.errors import InvalidInputError
from rewardkit.evaluation.answer_sets import AnswerSetReport, score_rows
from rewardkit.scoring.scorer import Scorer

__all__ = ["Rb2Report", "Rb2Results", "TiesScore", "evaluate_rewardbench2", "rewardbench2_results", "row_result"]

TIES_WEIGHTS = {
    "tied_accuracy": 0.30,
    "ref_accuracy": 0.30,
    "correctness_preferred": 0.20,
    "correctness_preferred_hard": 0.20,
    "margin_score": 0.01,
}


def row_result(scores: np.ndarray) -> float:
    """1 / (answers at the maximum) when the first answer is at the maximum, else 0."""
    scores = np.asarray(scores, dtype=float)
    top = scores.max()
    return 1.0 / int(np.count_nonzero(scores == top)) if scores[0] == top else 0.0


@dataclass(frozen=True)
class TiesScore:
    """The Ties subset's score and its parts (``process_single_model``).

    Rows come in groups ``ref:N`` (the prompt with one correct answer) and ``tied:N`` (the same
    prompt with several equally correct ones). For each prompt: accurate when its worst correct
    answer scores strictly above its best incorrect one; the correct-incorrect margin is that
    difference, the correct margin the spread between its best and worst correct answers. Over the
    N that have both rows: ``correctness_preferred`` is how often the tied prompt's correct-incorrect
    margin beats its correct margin, ``correctness_preferred_hard`` the same with the smaller of the
    tied and ref correct-incorrect margins, and ``margin_score`` the mean of tanh(that smaller margin
    / correct margin - 1) (0 where it is 0/0). ``score`` = 0.30 tied accuracy + 0.30 ref accuracy +
    0.20 correctness_preferred + 0.20 correctness_preferred_hard + 0.01 margin_score; the last term
    can take it a little outside [0, 1], and it is not clamped. With no N that has both rows the
    paired means are undefined (NaN) and so is the score, as in the authors' code.
    """

    score: float
    ref_accuracy: float
    tied_accuracy: float
    correctness_preferred: float
    correctness_preferred_hard: float
    margin_score: float
    ref_prompts: int
    tied_prompts: int
    paired_prompts: int

    def as_dict(self) -> dict[str, float | int | None]:
        return {k: _plain(v) for k, v in self.__dict__.items()}


def _prompt_stats(scores: np.ndarray, num_correct: int) -> tuple[bool, float | None, float]:
    """(accurate, correct margin or None with one correct answer, correct-incorrect margin)."""
    correct, incorrect = scores[:num_correct], scores[num_correct:]
    best_correct, worst_correct = float(correct.max()), float(correct.min())
    spread = best_correct - worst_correct if len(correct) > 1 else None
    margin = worst_correct - float(incorrect.max())
    return margin > 0, spread, margin


def ties_score(rows: Sequence[tuple[tuple[str, int], np.ndarray, int]]) -> TiesScore:
    """The Ties formula over rows of ((kind, N), scores with the correct answers first, num_correct)."""
    ref: dict[int, tuple[bool, float | None, float]] = {}
    tied: dict[int, tuple[bool, float | None, float]] = {}
    for (kind, number), scores, num_correct in rows:
        (ref if kind == "ref" else tied)[number] = _prompt_stats(np.asarray(scores, dtype=float), num_correct)
    ref_accuracy = float(np.mean([s[0] for s in ref.values()])) if ref else 0.0
    tied_accuracy = float(np.mean([s[0] for s in tied.values()])) if tied else 0.0
    paired = sorted(set(ref) & set(tied))
    spread = np.array([tied[n][1] for n in paired], dtype=float)
    tied_margin = np.array([tied[n][2] for n in paired], dtype=float)
    hard_margin = np.minimum(np.array([ref[n][2] for n in paired], dtype=float), tied_margin)
    with np.errstate(divide="ignore", invalid="ignore"):
        preferred = float(np.mean(tied_margin > spread)) if paired else math.nan
        preferred_hard = float(np.mean(hard_margin > spread)) if paired else math.nan
        margin_score = float(np.mean(np.nan_to_num(np.tanh(hard_margin / spread - 1), nan=0.0))) if paired else math.nan
    parts = {
        "tied_accuracy": tied_accuracy,
        "ref_accuracy": ref_accuracy,
        "correctness_preferred": preferred,
        "correctness_preferred_hard": preferred_hard,
        "margin_score": margin_score,
    }
    score = sum(TIES_WEIGHTS[k] * v for k, v in parts.items())
    return TiesScore(score=score, ref_prompts=len(ref), tied_prompts=len(tied), paired_prompts=len(paired), **parts)


@dataclass(frozen=True)
class Rb2Results:
    """One score's (the combined one, a member's, or the length baseline's) RewardBench 2 figures."""

    score: float
    subsets: dict[str, float]
    ties: TiesScore | None

    def as_dict(self) -> dict[str, object]:
        return {
            "score": _plain(self.score),
            "subsets": {k: _plain(v) for k, v in self.subsets.items()},
            "ties": self.ties.as_dict() if self.ties else None,
        }


def rewardbench2_results(meta: Sequence[Rb2Meta], scores: Sequence[np.ndarray]) -> Rb2Results:
    """The figures from each row's kept facts and its answers' scores (the correct answers first)."""
    if len(meta) != len(scores):
        raise InvalidInputError(f"{len(scores)} rows of scores for {len(meta)} rows")
    results: dict[str, list[float]] = {}
    ties_rows: dict[str, list[tuple[tuple[str, int], np.ndarray, int]]] = {}
    for m, row in zip(meta, scores):
        if len(row) != m.answers:
            raise InvalidInputError(f"{len(row)} scores for a row of {m.answers} answers")
        if is_ties(m.subset):
            ties_rows.setdefault(m.subset, []).append((m.ties_key, row, m.num_correct))  # type: ignore[arg-type]
        else:
            results.setdefault(m.subset, []).append(row_result(row))
    subsets = {name: sum(values) / len(values) for name, values in results.items()}  # run_v2.py's sum / count
    ties = {name: ties_score(rows) for name, rows in ties_rows.items()}
    subsets |= {name: t.score for name, t in ties.items()}
    subsets = dict(sorted(subsets.items()))
    return Rb2Results(float(np.mean(list(subsets.values()))), subsets, next(iter(ties.values()), None))


@dataclass(frozen=True)
class Rb2Report(AnswerSetReport[Rb2Results]):
    """``members`` is empty for a single model; ``length`` is the length baseline on the same rows."""

    benchmark: ClassVar[str] = "rewardbench2"


def evaluate_rewardbench2(scorer: Scorer, rows: CheckedRows[Rb2Row, Rb2Meta], *, progress: bool = True) -> Rb2Report:
    """RewardBench 2 figures of ``scorer`` on rows already checked (`check_rewardbench2`)."""
    scores = score_rows(scorer, rows, sum(m.answers for m in rows.meta), "RewardBench 2", progress=progress)
    meta = rows.meta
    counts: dict[str, int] = {}
    for m in meta:
        counts[m.subset] = counts.get(m.subset, 0) + 1
    return Rb2Report.of(
        scorer,
        scores,
        lambda values: rewardbench2_results(meta, scores.rows(values)),
        dict(sorted(counts.items())),
        rows.stream.names,
    )


def _plain(value: float | int) -> float | int | None:
    """JSON has no NaN: an undefined figure is null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
