"""RewardService: the scoring core's asynchronous front end, through the batching engine.

A step is encoded in a small thread pool (off the event loop) by the same ModelCore RewardModel
uses, its sequences are awaited from the engine (batched with every other request's), and the core
turns the results into the answer. The server, and any async Python caller, use this. Knows
nothing about HTTP.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rewardkit.config import EngineConfig, ModelConfig
from rewardkit.engine.engine import Engine, EngineObserver
from rewardkit.models.base import LoadedModel
from rewardkit.scoring.core import ModelCore, OneModel
from rewardkit.scoring.front import AsyncFront
from rewardkit.scoring.steps import Step, inputs, sequences
from rewardkit.types import TokenizedItem

__all__ = ["ENCODE_SLICE", "RewardService"]

ENCODE_SLICE = 64
"""Inputs tokenized per turn on a tokenizer thread."""


class RewardService(OneModel, AsyncFront):
    def __init__(
        self,
        model: LoadedModel,
        model_config: ModelConfig | None = None,
        engine_config: EngineConfig | None = None,
        *,
        observer: EngineObserver | None = None,
    ) -> None:
        self.core = ModelCore(model, model_config)
        engine_config = engine_config or EngineConfig()
        runner = self.runner
        if engine_config.forward_process and str(model.device) == "cpu":
            import torch

            from rewardkit.scoring.forward_process import ForwardProcess

            runner = ForwardProcess(runner, str(model.info.path), self.config, torch.get_num_threads())
        self.engine = Engine(runner, engine_config, observer=observer)
        if self.forward_process is not None:
            model.release_weights()  # the child holds the weights now: the model handed over keeps its facts only
        self.max_sequences = self.engine.config.max_queue
        self._pool = ThreadPoolExecutor(max_workers=engine_config.tokenizer_threads, thread_name_prefix="tokenize")

    async def start(self) -> None:
        await self.engine.start()

    async def stop(self) -> None:
        await self.engine.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.forward_process is not None:
            self.forward_process.close()

    @property
    def forward_process(self) -> Any:
        """The ForwardProcess that runs the model's forward (``--forward-process``), else None."""
        runner = self.engine.runner
        return runner if runner is not self.runner else None

    @property
    def healthy(self) -> bool:
        return self.engine.healthy

    @property
    def death_reason(self) -> str | None:
        return None if self.engine.healthy else (self.engine.death_reason or "the engine is not running")

    @property
    def broken(self) -> str | None:
        """The engine's death (a fatal error: only a new process serves again), else None."""
        return self.engine.death_reason

    def saturated(self) -> float | None:
        return self.engine.retry_after if self.engine.full else None

    async def execute(self, step: Step, progress: bool = False) -> Any:
        """Admit, then tokenize, then queue: a full queue or a dead engine refuses the step before a
        tokenizer thread is spent on it, and room admitted stays held until the items are queued."""
        self.core.check(step)
        reservation = self.engine.reserve(sequences(step))
        try:
            items = await self._encode(step)
            return self.core.finish(step, await self.engine.score(items, reservation))
        finally:
            self.engine.release(reservation)

    async def _encode(self, step: Step) -> list[TokenizedItem]:
        """Tokenize in slices of ENCODE_SLICE inputs: requests take turns on the tokenizer threads, and
        a cancelled request (its client left) stops at the next slice."""
        loop = asyncio.get_running_loop()
        items: list[TokenizedItem] = []
        for start in range(0, len(inputs(step)), ENCODE_SLICE):
            items += await loop.run_in_executor(self._pool, self.core.encode, step, start, start + ENCODE_SLICE)
        return items

    def info(self) -> dict[str, Any]:
        config = self.engine.config
        return {
            **self.model.info.as_dict(),
            "truncation": self.templater.truncation,
            "max_batch_tokens": config.max_batch_tokens,
            "max_batch_size": config.max_batch_size,
            "max_padding_ratio": config.max_padding_ratio,
            "max_lookahead": config.max_lookahead,
            "max_wait_ms": config.max_wait_ms,
            "max_queue": config.max_queue,
            "forward_process": self.forward_process is not None,
        }
