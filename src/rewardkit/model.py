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
from rewardkit.groups import SyncGroups
from rewardkit.models.base import LoadedModel, ModelInfo
from rewardkit.models.loader import load_model
from rewardkit.pairwise import judge
from rewardkit.pairwise.ranking import Ranking, run_plan
from rewardkit.service import pairwise_only, prepare
from rewardkit.types import Conversation, ScoreResult, TokenizedItem

__all__ = ["RewardModel"]

DEFAULT_BATCH_TOKENS = 4096


class RewardModel(SyncGroups):
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
        self.templater, self.runner, self.pairwise = prepare(model, self.config)
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
        **options: Any,
    ) -> RewardModel:
        """Load a checkpoint folder (or "builtin"); argument names follow transformers where they mean the same.

        ``options`` are the other ModelConfig fields (the CLI flags without dashes): ``objective``,
        ``step_separator``, ``step_aggregation``, ``num_padding_at_beginning``, ``pairwise``,
        ``pairwise_template``, ``pairwise_tokens``, ``pairwise_temperature``.
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
        from rewardkit.builtin import resolve_model_path

        model = load_model(resolve_model_path(str(path)), config)
        return cls(model, config, max_batch_tokens=max_batch_tokens, max_batch_size=max_batch_size)

    @property
    def info(self) -> ModelInfo:
        return self.model.info

    def score(self, texts: Sequence[str], *, progress: bool = False) -> list[float]:
        """Rewards for full texts (chat template already applied), in input order."""
        return [r.score for r in self.score_results(texts, progress=progress)]

    def score_messages(self, conversations: Sequence[Conversation], *, progress: bool = False) -> list[float]:
        """Rewards for conversations; the model's chat template is applied here."""
        return [r.score for r in self.score_results(conversations=conversations, progress=progress)]

    def score_results(
        self,
        texts: Sequence[str] | None = None,
        *,
        conversations: Sequence[Conversation] | None = None,
        objective: str | None = None,
        progress: bool = False,
    ) -> list[ScoreResult]:
        """Full results (objectives, step scores, token counts) for texts or conversations."""
        pairwise_only(self.model)
        self.runner.check_objective(objective)
        if texts is not None:
            items = self.templater.encode_texts(_as_list(texts))
        else:
            items = self.templater.encode_conversations(_as_list(conversations or []))
        results = self.score_items(items, progress=progress)
        return [self.runner.select(r, objective) for r in results] if objective is not None else results

    def compare(
        self, responses: Sequence[str], *, prompt: str | None = None, messages: Conversation | None = None
    ) -> judge.Comparison:
        """P(responses[0] better than responses[1]); both orders averaged for a pairwise model."""
        if self.pairwise is None:
            return super().compare(responses, prompt=prompt, messages=messages)
        responses = judge.check_responses(responses, pair=True)
        items = self.pairwise.encode_pairs(judge.render_context(prompt, messages), responses, [(0, 1)])
        return judge.comparison(p_first=[r.score for r in self.score_items(items)])

    def rank(
        self,
        responses: Sequence[str],
        *,
        prompt: str | None = None,
        messages: Conversation | None = None,
        method: str = "knockout",
    ) -> Ranking:
        """Best first: by reward, or by a knockout / round-robin tournament for a pairwise model."""
        if self.pairwise is None:
            return super().rank(responses, prompt=prompt, messages=messages)
        responses = judge.check_responses(responses)
        context = judge.render_context(prompt, messages)

        def compare_pairs(pairs: list[tuple[int, int]]) -> list[float]:
            items = self.pairwise.encode_pairs(context, responses, pairs)  # type: ignore[union-attr]
            return judge.pair_probabilities([r.score for r in self.score_items(items)])

        return run_plan(judge.tournament(method, len(responses)), compare_pairs)

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
