"""Scoring benchmarks whose rows hold one prompt and several answers (RewardBench 2, RM-Bench): every
answer is scored once as the conversation [user: prompt, assistant: answer], rows streamed through
the scorer a chunk at a time, so memory holds the scores and never the whole file. A row's answers
always go to the scorer in the same call (a batch then holds a prompt's answers together, and the
same text in a row always gets the same score).

The length baseline comes along: each answer's length in the model's tokens, read from the scorer
(the conversation's token count; a row's answers share the prompt, so the longer answer has more),
or in characters when the scorer gives no counts. `AnswerSetReport` is the report both benchmarks
write: the combined scorer's figures, each member's and the length baseline's, from one function of
a score per answer. Knows the Scorer protocol, nothing about files or about what a benchmark does
with the scores.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import numpy as np

from rewardkit.errors import InvalidInputError
from rewardkit.evaluation.pairs import score_distinct
from rewardkit.scoring.scorer import Scorer
from rewardkit.types import with_answer

__all__ = ["AnswerScores", "AnswerSetReport", "refuse_pairwise", "score_answer_sets", "score_rows"]

CHUNK_ANSWERS = 256
"""Answers sent to the scorer per call (whole rows; the last row may go past it)."""


@dataclass(frozen=True)
class AnswerScores:
    """Scores of every answer, row after row: row r's answers are ``[offsets[r], offsets[r + 1])``."""

    offsets: np.ndarray
    combined: np.ndarray
    members: dict[str, np.ndarray]
    lengths: np.ndarray
    length_unit: str
    """"tokens" or "characters"."""
    truncated: int
    """Answers whose conversation the model read truncated (their token count is the cut one)."""

    def rows(self, values: np.ndarray) -> list[np.ndarray]:
        """``values`` (one per answer) cut into rows."""
        return np.split(np.asarray(values), self.offsets[1:-1])


def refuse_pairwise(scorer: Scorer, benchmark: str) -> None:
    """A pairwise preference model has no score for one answer, which these benchmarks compare."""
    if scorer.pairwise:
        raise InvalidInputError(
            f"{scorer.name} is a pairwise preference model: {benchmark} needs a reward for each answer on its "
            "own. Use rank instead: `rewardkit bon select` or POST /rank order a prompt's answers by a tournament "
            "of pairwise comparisons."
        )


def score_answer_sets(
    scorer: Scorer,
    rows: Iterable[tuple[str, str, Sequence[str]]],
    total_answers: int,
    *,
    progress: bool = True,
    chunk_answers: int = CHUNK_ANSWERS,
) -> AnswerScores:
    """Scores of ``rows`` of (source, prompt, answers); ``total_answers`` sizes the progress bar."""
    from tqdm.auto import tqdm

    counts = array("q")
    combined: list[np.ndarray] = []
    members: dict[str, list[np.ndarray]] = {}
    tokens: list[np.ndarray] | None = []
    characters = array("q")
    truncated = 0
    conversations: list[list[dict[str, str]]] = []
    sources: list[str] = []

    def flush() -> None:
        nonlocal tokens, truncated
        table = score_distinct(scorer, conversations, sources, progress=False)
        combined.append(table.combined)
        for name, values in table.members.items():
            members.setdefault(name, []).append(values)
        if tokens is not None and table.tokens is not None:
            tokens.append(np.asarray(table.tokens, dtype=np.int64))
        else:
            tokens = None
        truncated += int(np.sum(table.truncated)) if table.truncated is not None else 0
        bar.update(len(conversations))
        conversations.clear()
        sources.clear()

    with tqdm(total=total_answers, disable=not progress, unit="answer", desc="scoring") as bar:
        for source, prompt, answers in rows:
            counts.append(len(answers))
            for answer in answers:
                conversations.append(with_answer(prompt, answer))
                sources.append(source)
                characters.append(len(answer))
            if len(conversations) >= chunk_answers:
                flush()
        if conversations:
            flush()
    if not counts:
        raise InvalidInputError("no rows to score")
    scores = np.concatenate(combined)
    named = {name: np.concatenate(parts) for name, parts in members.items() if len(parts) == len(combined)}
    by_tokens = tokens is not None and sum(len(t) for t in tokens) == len(scores)
    lengths = np.concatenate(tokens) if by_tokens and tokens else np.array(characters, dtype=np.int64)
    return AnswerScores(
        offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        combined=scores,
        members=named,
        lengths=lengths,
        length_unit="tokens" if by_tokens else "characters",
        truncated=truncated,
    )


class AnswerSet(Protocol):
    """A benchmark row as scoring reads it."""

    @property
    def source(self) -> str: ...

    @property
    def prompt(self) -> str: ...

    @property
    def answers(self) -> Sequence[str]: ...


def score_rows(
    scorer: Scorer, rows: Iterable[AnswerSet], total_answers: int, benchmark: str, *, progress: bool = True
) -> AnswerScores:
    """`score_answer_sets` of a benchmark's rows, a pairwise scorer refused first (`refuse_pairwise`)."""
    refuse_pairwise(scorer, benchmark)
    return score_answer_sets(scorer, ((r.source, r.prompt, r.answers) for r in rows), total_answers, progress=progress)


class Figures(Protocol):
    def as_dict(self) -> dict[str, object]: ...


F = TypeVar("F", bound=Figures)
R = TypeVar("R", bound="AnswerSetReport[Any]")


@dataclass(frozen=True)
class AnswerSetReport(Generic[F]):
    """``members`` is empty for a single model; ``length`` is the length baseline on the same rows."""

    benchmark: ClassVar[str]
    scorer: str
    combined: F
    members: dict[str, F]
    length: F
    length_unit: str
    counts: dict[str, int]
    truncated: int
    answers: int
    files: list[str]

    @classmethod
    def of(
        cls: type[R],
        scorer: Scorer,
        scores: AnswerScores,
        figures: Callable[[np.ndarray], Any],
        counts: dict[str, int],
        files: list[str],
    ) -> R:
        """The report of ``scores``: ``figures`` of the combined scores, each member's and the lengths."""
        return cls(
            scorer=scorer.name,
            combined=figures(scores.combined),
            members={name: figures(values) for name, values in scores.members.items()},
            length=figures(scores.lengths),
            length_unit=scores.length_unit,
            counts=counts,
            truncated=scores.truncated,
            answers=len(scores.combined),
            files=files,
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "benchmark": self.benchmark,
            "scorer": self.scorer,
            **self.combined.as_dict(),
            "counts": self.counts,
            "members": {name: r.as_dict() for name, r in self.members.items()},
            "length_baseline": {"unit": self.length_unit, **self.length.as_dict()},
            "data": {"files": self.files, "answers": self.answers, "truncated": self.truncated},
        }
