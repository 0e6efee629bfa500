"""RewardModel: in-process scoring without a server (notebooks, offline passes, evaluation, tests).

The scoring core's synchronous front end: the same steps, templating and runner as the server,
without the queue. A step's sequences are sorted by length, cut into batches under the padded-token
budget (the engine's device defaults), scored and returned in input order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rewardkit.config import EngineConfig, ModelConfig
from rewardkit.engine.batcher import plan_batches
from rewardkit.errors import InvalidInputError, ModelOutputError
from rewardkit.models.base import LoadedModel, ModelInfo
from rewardkit.models.loader import open_model
from rewardkit.scoring.core import ModelCore, OneModel
from rewardkit.scoring.front import SyncFront
from rewardkit.scoring.steps import Step
from rewardkit.types import ScoreResult, TokenizedItem

__all__ = ["RewardModel"]


class RewardModel(OneModel, SyncFront):
    def __init__(
        self,
        model: LoadedModel,
        config: ModelConfig | None = None,
        *,
        max_batch_tokens: int | None = None,
        max_batch_size: int = 64,
    ) -> None:
        self.core = ModelCore(model, config)
        batching = EngineConfig(max_batch_tokens=max_batch_tokens or None, max_batch_size=max_batch_size)
        batching = batching.for_device(model.device)
        self.max_batch_tokens: int = batching.max_batch_tokens  # type: ignore[assignment]
        self.max_batch_size = batching.max_batch_size

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        dtype: str = "auto",
        device: str = "auto",
        trust_remote_code: bool = False,
        max_length: int | None = None,
        truncation: str = "left",
        normalize: bool | None = None,
        append_eos: bool = False,
        max_batch_tokens: int | None = None,
        max_batch_size: int = 64,
        **options: Any,
    ) -> RewardModel:
        """Load a checkpoint folder (or "builtin"); argument names follow transformers where they mean the same.

        ``options`` are the other ModelConfig fields (the CLI flags without dashes): ``objective``,
        ``step_separator``, ``step_aggregation``, ``num_padding_at_beginning``, ``recipe`` (a model
        family read as its card reads it, e.g. ``recipe="math-shepherd"``), ``judge_template``,
        ``verifier_tokens``, ``verifier_output``, ``pairwise``, ``pairwise_template``,
        ``pairwise_tokens``, ``pairwise_temperature``.
        """
        try:
            config = ModelConfig(
                dtype=dtype,  # type: ignore[arg-type]
                device=device,  # type: ignore[arg-type]
                trust_remote_code=trust_remote_code,
                max_length=max_length,
                truncation=truncation,  # type: ignore[arg-type]
                normalize=normalize,
                append_eos=append_eos,
                **options,
            )
        except TypeError as exc:
            raise InvalidInputError(f"RewardModel.load: {exc}") from None
        return cls.open(path, config, max_batch_tokens=max_batch_tokens, max_batch_size=max_batch_size)

    @classmethod
    def open(cls, source: str | Path, config: ModelConfig | None = None, **batching: Any) -> RewardModel:
        """Load a checkpoint folder (or "builtin") under a ModelConfig; ``batching`` is
        ``max_batch_tokens`` / ``max_batch_size``."""
        return cls(open_model(source, config), config, **batching)

    @property
    def info(self) -> ModelInfo:
        return self.model.info

    def execute(self, step: Step, progress: bool = False) -> Any:
        return self.core.finish(step, self.score_items(self.core.encode(step), progress=progress))

    def score_items(self, items: Sequence[TokenizedItem], *, progress: bool = False) -> list[ScoreResult]:
        """Scores for already-encoded sequences, in input order; a non-finite score raises."""
        results = self.outcomes(items, progress=progress)
        for result in results:
            if isinstance(result, ModelOutputError):
                raise result
        return results  # type: ignore[return-value]

    def outcomes(
        self, items: Sequence[TokenizedItem], *, progress: bool = False
    ) -> list[ScoreResult | ModelOutputError]:
        """Like ``score_items``, but an item the model fails on (a non-finite score) is returned as its
        error in its place, so bulk runs can skip it and keep the rest."""
        from tqdm.auto import tqdm

        results: list[ScoreResult | ModelOutputError | None] = [None] * len(items)
        with tqdm(total=len(items), disable=not progress, unit="seq", desc="scoring") as bar:
            for batch in plan_batches(
                [i.length for i in items],
                self.max_batch_tokens,
                self.max_batch_size,
                self.model.packed,
                [i.input_ids for i in items],
            ):
                output = self.runner.run([items[i] for i in batch])
                for i, result in zip(batch, output.results):
                    results[i] = result
                bar.update(len(batch))
        return [r for r in results if r is not None]
