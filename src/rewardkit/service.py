"""Texts and conversations -> scores through the engine: the async front of one loaded model.

Applies templates and tokenizes in a small thread pool (off the event loop), then awaits the
engine. Knows nothing about HTTP; the server, and any async Python caller, use this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rewardkit.config import EngineConfig, ModelConfig
from rewardkit.engine.engine import Engine, EngineObserver
from rewardkit.engine.runner import Runner
from rewardkit.errors import EngineDeadError
from rewardkit.models.base import LoadedModel
from rewardkit.templating import Templater
from rewardkit.types import Conversation, ScoreResult

__all__ = ["RewardService", "prepare"]


def prepare(model: LoadedModel, config: ModelConfig) -> tuple[Templater, Runner]:
    """The templater and runner for ``model`` under ``config``, shared by the server and RewardModel;
    records the template and normalization actually used in ``model.info``."""
    templater = Templater(
        model.tokenizer,
        max_length=model.info.max_length,
        truncation=config.truncation,
        append_eos=config.append_eos,
    )
    normalize = model.info.normalize_by_default if config.normalize is None else config.normalize
    runner = Runner(model, normalize=normalize)
    model.info.template = templater.template_name
    model.info.normalized = normalize
    return templater, runner


class RewardService:
    def __init__(
        self,
        model: LoadedModel,
        model_config: ModelConfig | None = None,
        engine_config: EngineConfig | None = None,
        *,
        observer: EngineObserver | None = None,
    ) -> None:
        self.model_config = model_config or ModelConfig()
        engine_config = engine_config or EngineConfig()
        self.model = model
        self.templater, runner = prepare(model, self.model_config)
        self.engine = Engine(runner, engine_config, observer=observer)
        self._pool = ThreadPoolExecutor(max_workers=engine_config.tokenizer_threads, thread_name_prefix="tokenize")

    async def start(self) -> None:
        await self.engine.start()

    async def stop(self) -> None:
        await self.engine.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def healthy(self) -> bool:
        return self.engine.healthy

    async def score_texts(self, texts: Sequence[str]) -> list[ScoreResult]:
        items = await self._in_pool(self.templater.encode_texts, list(texts))
        return await self.engine.score(items)

    async def score_conversations(self, conversations: Sequence[Conversation]) -> list[ScoreResult]:
        items = await self._in_pool(self.templater.encode_conversations, list(conversations))
        return await self.engine.score(items)

    def info(self) -> dict[str, Any]:
        data = self.model.info.as_dict()
        data.update(
            truncation=self.templater.truncation,
            max_batch_tokens=self.engine.max_batch_tokens,
            max_batch_size=self.engine.config.max_batch_size,
            max_padding_ratio=self.engine.max_padding_ratio,
            max_lookahead=self.engine.max_lookahead,
            max_wait_ms=self.engine.config.max_wait_ms,
            max_queue=self.engine.config.max_queue,
        )
        return data

    async def _in_pool(self, fn: Any, arg: Any) -> Any:
        if not self.engine.healthy:  # refuse before spending a tokenizer thread on it
            raise EngineDeadError(f"the engine is not serving: {self.engine.death_reason or 'stopped'}")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, arg)
