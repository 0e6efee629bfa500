"""Supervises one worker thread that turns queued items into scores.

Knows nothing about HTTP, text or tokenization: it takes TokenizedItems and returns ScoreResults,
one asyncio future per item. The worker thread pulls batches straight from the thread-safe
Batcher, so the next batch starts the moment the previous one ends, while the event loop keeps
accepting and tokenizing requests.

Failure rules: a batch that raises is retried item by item, so only the items that fail on their
own get BatchFailedError; a fatal error (CUDA, or anything that is not an Exception) kills the
worker: every waiting item gets EngineDeadError, `healthy` turns False, new work is refused.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from rewardkit.config import EngineConfig
from rewardkit.engine.batcher import Batcher, Pending, Reservation, prefix_blocks
from rewardkit.engine.runner import Runner, is_fatal
from rewardkit.errors import BatchFailedError, EngineDeadError, EngineError, InvalidInputError
from rewardkit.types import ScoreResult, TokenizedItem

__all__ = ["Engine", "EngineObserver"]


class EngineObserver(Protocol):
    """Receives engine events; the server turns them into Prometheus metrics."""

    def on_batch(
        self, size: int, real_tokens: int, padded_tokens: int, seconds: float, cached_tokens: int = 0
    ) -> None: ...

    def on_queue_depth(self, depth: int) -> None: ...

    def on_error(self, kind: str) -> None: ...


class _NullObserver:
    def on_batch(self, size: int, real_tokens: int, padded_tokens: int, seconds: float, cached_tokens: int = 0) -> None:
        pass

    def on_queue_depth(self, depth: int) -> None:
        pass

    def on_error(self, kind: str) -> None:
        pass


class Engine:
    def __init__(
        self, runner: Runner, config: EngineConfig | None = None, *, observer: EngineObserver | None = None
    ) -> None:
        self.config = config = (config or EngineConfig()).for_device(runner.model.device)
        """The settings in force, device defaults filled in (/info reports them)."""
        self.runner = runner
        self.observer = observer or _NullObserver()
        self.batcher = Batcher(
            max_batch_tokens=config.max_batch_tokens,
            max_batch_size=config.max_batch_size,
            max_wait_s=config.max_wait_ms / 1000.0,
            max_queue=config.max_queue,
            max_padding_ratio=config.max_padding_ratio,
            max_lookahead=config.max_lookahead,
            packed=runner.model.packed,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._death: str | None = None
        self._recent = (0.0, 0.0)  # (sequences, seconds) of model time, decaying: recent batches weigh most

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the worker (idempotent). Must be called from the loop that will await scores."""
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._work, name="rewardkit-worker", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stopping.set()
        for entry in self.batcher.close():
            self._fail(entry, EngineDeadError("the server is shutting down; retry against another replica"))
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 10.0)

    @property
    def healthy(self) -> bool:
        return (
            self._death is None and self._thread is not None and self._thread.is_alive() and not self._stopping.is_set()
        )

    @property
    def death_reason(self) -> str | None:
        return self._death

    @property
    def queue_depth(self) -> int:
        return self.batcher.depth

    @property
    def full(self) -> bool:
        """Not even one more sequence would be admitted now."""
        return self.batcher.full

    @property
    def retry_after(self) -> float:
        """Seconds until the work already committed is done at the measured rate (1 to 60; 1 before
        anything was measured): what a refused client is told to wait."""
        done, spent = self._recent
        if not done:
            return 1.0
        return min(60.0, max(1.0, self.batcher.committed * spent / done))

    # ---- scoring ---------------------------------------------------------------------------
    def reserve(self, count: int) -> Reservation:
        """Admit ``count`` sequences before they are tokenized, or refuse at once (QueueFullError with
        Retry-After, TooManyItemsError, EngineDeadError). Pass the reservation to ``score``, and
        ``release`` it when done (what ``score`` queued is no longer held)."""
        if not self.healthy:
            raise EngineDeadError(f"the engine is not serving: {self._death or 'not started'}")
        return self.batcher.reserve(count, self.retry_after)

    def release(self, reservation: Reservation) -> None:
        self.batcher.release(reservation)

    async def score(self, items: Sequence[TokenizedItem], reservation: Reservation | None = None) -> list[ScoreResult]:
        """Scores for ``items`` in order; raises the first EngineError any of them hit. Cancelling the
        caller drops its items that are still queued."""
        if not items:
            raise InvalidInputError("nothing to score: send at least one item")
        if not self.healthy:
            raise EngineDeadError(f"the engine is not serving: {self._death or 'not started'}")
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in items]
        packed = self.batcher.packed
        entries = [
            Pending(
                length=item.length,
                payload=(item, future),
                is_cancelled=future.cancelled,
                prefix=prefix_blocks(item.input_ids) if packed else (),
            )
            for item, future in zip(items, futures)
        ]
        self.batcher.put(entries, reservation, self.retry_after)
        for entry, future in zip(entries, futures):  # a caller that leaves takes its items out at once
            future.add_done_callback(lambda f, e=entry: f.cancelled() and self._abandon(e))
        self.observer.on_queue_depth(self.batcher.depth)
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return list(outcomes)

    def _abandon(self, entry: Pending) -> None:
        self.batcher.discard(entry)
        self.observer.on_queue_depth(self.batcher.depth)

    # ---- worker thread ---------------------------------------------------------------------
    def _work(self) -> None:
        try:
            while not self._stopping.is_set() and self._death is None:
                batch = self.batcher.next_batch(timeout=0.25)
                if batch:
                    self.observer.on_queue_depth(self.batcher.depth)
                    self._run(batch)
        except BaseException as exc:  # the loop itself broke: the engine is dead, say so
            self._die(exc, [])

    def _run(self, batch: list[Pending]) -> None:
        items = [entry.payload[0] for entry in batch]
        started = time.perf_counter()
        try:
            output = self.runner.run(items)
        except BaseException as exc:
            if is_fatal(exc):
                self._die(exc, batch)
                return
            if len(batch) == 1:
                self._fail(batch[0], BatchFailedError(f"the model raised {type(exc).__name__}: {exc}"))
            else:
                for entry in batch:  # isolate the culprit: others must not fail for it
                    if self._death is None:
                        self._run([entry])
                    else:
                        self._fail(entry, EngineDeadError(f"the engine stopped serving ({self._death})"))
            return
        seconds = time.perf_counter() - started
        self._measure(len(batch), seconds)
        self.observer.on_batch(len(batch), output.real_tokens, output.padded_tokens, seconds, output.cached_tokens)
        self._deliver([(entry, result) for entry, result in zip(batch, output.results)])

    def _measure(self, sequences: int, seconds: float) -> None:
        done, spent = self._recent
        self._recent = (0.8 * done + sequences, 0.8 * spent + seconds)

    def _deliver(self, pairs: list[tuple[Pending, object]]) -> None:
        def resolve() -> None:
            for entry, outcome in pairs:
                future = entry.payload[1]
                if future.done():
                    continue
                if isinstance(outcome, BaseException):
                    if isinstance(outcome, EngineError):
                        self.observer.on_error(type(outcome).__name__)
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

        assert self._loop is not None
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(resolve)

    def _fail(self, entry: Pending, error: BaseException) -> None:
        self._deliver([(entry, error)])

    def _die(self, exc: BaseException, batch: list[Pending]) -> None:
        self._death = f"worker died: {type(exc).__name__}: {exc}"
        self.observer.on_error("engine_dead")
        error = EngineDeadError(f"the engine stopped serving ({self._death}); restart the server")
        for entry in [*batch, *self.batcher.close()]:
            self._fail(entry, error)
