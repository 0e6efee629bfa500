"""Concrete Scorers for the evaluation runners: local checkpoints (one model, or an ensemble of
several) and a running server. Knows how to reach a model; knows nothing about datasets or metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rewardkit.client import Client
from rewardkit.config import EnsembleConfig, ModelConfig
from rewardkit.errors import InvalidInputError
from rewardkit.scoring.ensemble import Ensemble, member_names
from rewardkit.scoring.front import SyncFront
from rewardkit.scoring.model import RewardModel
from rewardkit.scoring.pairwise import PairQuestion, render_context
from rewardkit.scoring.scorer import PairToJudge, ScoreTable
from rewardkit.types import Conversation, ScoreResult

__all__ = ["LocalScorer", "RemoteScorer", "build_scorer"]

REMOTE_CHUNK = 64


class LocalScorer:
    """One RewardModel or an Ensemble of them, in this process."""

    def __init__(self, model: SyncFront, name: str) -> None:
        self.model = model
        self.name = name
        self.pairwise = getattr(model, "pairwise", None) is not None

    def score(self, conversations: Sequence[Conversation], *, progress: bool = False) -> ScoreTable:
        return results_table(self.model.score_results(list(conversations), progress=progress))

    def prefer(self, pairs: Sequence[PairToJudge], *, progress: bool = False) -> np.ndarray:
        questions = [PairQuestion(render_context(messages=p.context), p.first, p.second) for p in pairs]
        return np.array(self.model.prefer(questions, progress=progress), dtype=np.float64)


class RemoteScorer:
    """A running rewardkit server (or an ensemble behind one), through /score and /compare."""

    pairwise = False

    def __init__(self, url: str, *, api_key: str | None = None) -> None:
        self.client = Client(url, api_key=api_key)
        self.name = url
        info = self.client.info()
        self.pairwise = info.get("pairwise") is not None and info.get("format") != "ensemble"

    def score(self, conversations: Sequence[Conversation], *, progress: bool = False) -> ScoreTable:
        chunks = _chunks(list(conversations), progress, "scoring")
        return results_table([r for chunk in chunks for r in self.client.score_results(chunk)])

    def prefer(self, pairs: Sequence[PairToJudge], *, progress: bool = False) -> np.ndarray:
        out = []
        for chunk in _chunks(list(pairs), progress, "comparing", size=1):
            pair = chunk[0]
            out.append(self.client.compare([pair.first, pair.second], messages=pair.context)["probability"])
        return np.array(out, dtype=np.float64)


def results_table(results: Sequence[ScoreResult]) -> ScoreTable:
    """ScoreResults (from any front, local or a server's) as the columns evaluation reads."""
    names = list(results[0].members) if results else []
    return ScoreTable(
        combined=np.array([r.score for r in results], dtype=np.float64),
        members={name: np.array([r.members[name] for r in results], dtype=np.float64) for name in names},
        tokens=np.array([r.num_tokens for r in results], dtype=np.int64),
        truncated=np.array([r.truncated for r in results], dtype=bool),
    )


def _chunks(items: list[Any], progress: bool, what: str, size: int = REMOTE_CHUNK) -> Any:
    from tqdm.auto import tqdm

    with tqdm(total=len(items), disable=not progress, unit="seq", desc=what) as bar:
        for start in range(0, len(items), size):
            yield items[start : start + size]
            bar.update(min(size, len(items) - start))


def build_scorer(
    sources: Sequence[str],
    model_config: ModelConfig | None = None,
    ensemble_config: EnsembleConfig | None = None,
    *,
    api_key: str | None = None,
    max_batch_tokens: int | None = None,
) -> LocalScorer | RemoteScorer:
    """A Scorer for what the user named: one URL (a running server), or checkpoint folders ('builtin'
    included); several folders are an ensemble."""
    sources = list(sources) or ["builtin"]
    urls = [s for s in sources if s.startswith(("http://", "https://"))]
    if urls:
        if len(sources) > 1:
            raise InvalidInputError(
                "evaluate a server URL on its own; to evaluate an ensemble of servers, serve them as one "
                "(rewardkit serve URL1 URL2 ...) and pass that server's URL"
            )
        return RemoteScorer(urls[0], api_key=api_key)
    config = model_config or ModelConfig()
    models = [RewardModel.open(s, config, max_batch_tokens=max_batch_tokens) for s in sources]
    names = member_names(sources)
    if len(models) == 1:
        return LocalScorer(models[0], names[0])
    ensemble_config = ensemble_config or EnsembleConfig()
    return LocalScorer(Ensemble(models, names, ensemble_config), f"{ensemble_config.ensemble}({', '.join(names)})")
