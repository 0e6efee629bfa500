"""RewardModel: in-process scoring without a server (notebooks, offline passes, tests).

Same templating, runner and batching plan as the server, without the queue: inputs are sorted by
length, cut into batches under a padded-token budget, scored, and returned in input order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rewardkit.config import ModelConfig
from rewardkit.engine.batcher import plan_batches
from rewardkit.errors import InvalidInputError, ModelOutputError
from rewardkit.models.base import LoadedModel, ModelInfo
from rewardkit.models.loader import load_model
from rewardkit.service import prepare
from rewardkit.types import Conversation, ScoreResult, TokenizedItem

__all__ = ["RewardModel"]

DEFAULT_BATCH_TOKENS = 4096


class RewardModel:
    def __init__(
        self,
        model: LoadedModel,
        config: ModelConfig | None = None,
        *,
        max_batch_tokens: int = 0,
        max_batch_size: int = 64,
    ) -> None:
        self.config = config or ModelConfig()
        self.model = model
        self.templater, self.runner = prepare(model, self.config)
        self.max_batch_tokens = max_batch_tokens or DEFAULT_BATCH_TOKENS
        self.max_batch_size = max_batch_size

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
        max_batch_tokens: int = 0,
        max_batch_size: int = 64,
    ) -> RewardModel:
        """Load a checkpoint folder; argument names follow transformers where they mean the same."""
        config = ModelConfig(
            dtype=dtype,
            device=device,
            trust_remote_code=trust_remote_code,
            max_length=max_length,  # type: ignore[arg-type]
            truncation=truncation,
            normalize=normalize,
            append_eos=append_eos,  # type: ignore[arg-type]
        )
        return cls(load_model(path, config), config, max_batch_tokens=max_batch_tokens, max_batch_size=max_batch_size)

    @property
    def info(self) -> ModelInfo:
        return self.model.info

    def score(self, texts: Sequence[str], *, progress: bool = False) -> list[float]:
        """Rewards for full texts (chat template already applied), in input order."""
        return [r.score for r in self.score_items(self.templater.encode_texts(_as_list(texts)), progress=progress)]

    def score_messages(self, conversations: Sequence[Conversation], *, progress: bool = False) -> list[float]:
        """Rewards for conversations; the model's chat template is applied here."""
        items = self.templater.encode_conversations(_as_list(conversations))
        return [r.score for r in self.score_items(items, progress=progress)]

    def score_items(self, items: Sequence[TokenizedItem], *, progress: bool = False) -> list[ScoreResult]:
        plan = plan_batches([i.length for i in items], self.max_batch_tokens, self.max_batch_size)
        results: list[ScoreResult | None] = [None] * len(items)
        bar = _progress(len(items), progress)
        for batch in plan:
            output = self.runner.run([items[i] for i in batch])
            for i, result in zip(batch, output.results):
                if isinstance(result, ModelOutputError):
                    raise result
                results[i] = result
            bar.update(len(batch))
        bar.close()
        return [r for r in results if r is not None]


def _as_list(values: Iterable[Any]) -> list[Any]:
    if isinstance(values, (str, dict)):
        raise InvalidInputError("expected a list of inputs; wrap a single one in a list")
    return list(values)


def _progress(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, unit="seq", desc="scoring")
