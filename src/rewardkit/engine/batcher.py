"""Waiting items -> batches. Pure Python, thread-safe, no torch and no asyncio.

Policy: the oldest waiting item always goes into the next batch (so nothing starves and the worst
wait stays that of a FIFO), and it is joined by the waiting items whose lengths are closest to its
own, as long as the batch stays under the padded-token and size limits and its padding stays under
``max_padding_ratio`` of its real tokens. Items that share a request are not special today; a
group-aware policy (shared prompts) can replace ``_companions`` without touching callers.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rewardkit.errors import QueueFullError, TooManyItemsError

__all__ = ["Batcher", "Pending", "plan_batches"]


@dataclass(eq=False)
class Pending:
    """An item waiting for the model, with where its result goes."""

    length: int
    payload: Any
    is_cancelled: Callable[[], bool] = field(default=lambda: False)
    enqueued_at: float = field(default_factory=time.monotonic)
    seq: int = 0


def plan_batches(lengths: Sequence[int], max_batch_tokens: int, max_batch_size: int) -> list[list[int]]:
    """Offline plan: indices sorted by length, cut into batches under the padded-token budget."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        # sorted descending, so the first index of a batch is its widest
        width = lengths[current[0]] if current else lengths[i]
        if current and (width * (len(current) + 1) > max_batch_tokens or len(current) >= max_batch_size):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


class Batcher:
    def __init__(
        self,
        *,
        max_batch_tokens: int,
        max_batch_size: int,
        max_wait_s: float,
        max_queue: int,
        max_padding_ratio: float = 0.2,
    ) -> None:
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.max_padding_ratio = max_padding_ratio
        self._fifo: OrderedDict[int, Pending] = OrderedDict()
        self._by_length: list[tuple[int, int]] = []  # (length, seq), sorted
        self._queued_tokens = 0
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._closed = False

    @property
    def depth(self) -> int:
        return len(self._fifo)

    def put(self, entries: Sequence[Pending]) -> None:
        """Queue all entries or none (a request is never half-queued)."""
        with self._cond:
            if self._closed:
                raise QueueFullError("the engine is shutting down", retry_after=5.0)
            if len(entries) > self.max_queue:
                raise TooManyItemsError(
                    f"one request holds {len(entries)} sequences, more than the queue's {self.max_queue}; "
                    "split it into smaller requests or raise --max-queue"
                )
            if len(self._fifo) + len(entries) > self.max_queue:
                raise QueueFullError(
                    f"the queue is full ({len(self._fifo)} of {self.max_queue} sequences waiting); retry shortly",
                    retry_after=1.0,
                )
            for entry in entries:
                entry.seq = next(self._seq)
                self._fifo[entry.seq] = entry
                bisect.insort(self._by_length, (entry.length, entry.seq))
                self._queued_tokens += entry.length
            self._cond.notify()

    def close(self) -> list[Pending]:
        """Stop accepting work and hand back everything still waiting."""
        with self._cond:
            self._closed = True
            left = list(self._fifo.values())
            self._fifo.clear()
            self._by_length.clear()
            self._queued_tokens = 0
            self._cond.notify_all()
            return left

    def next_batch(self, timeout: float | None = None) -> list[Pending]:
        """Block until a batch is ready (or timeout/close: then an empty list)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                self._drop_cancelled()
                if self._closed:
                    return []
                if self._fifo:
                    head = next(iter(self._fifo.values()))
                    wait = head.enqueued_at + self.max_wait_s - time.monotonic()
                    if wait <= 0 or self._could_fill():
                        return self._take_batch(head)
                else:
                    wait = None
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return []
                    wait = remaining if wait is None else min(wait, remaining)
                self._cond.wait(wait)

    def _could_fill(self) -> bool:
        return len(self._fifo) >= self.max_batch_size or self._queued_tokens >= self.max_batch_tokens

    def _drop_cancelled(self) -> None:
        cancelled = [e for e in self._fifo.values() if e.is_cancelled()]
        for entry in cancelled:
            self._remove(entry)

    def _remove(self, entry: Pending) -> None:
        del self._fifo[entry.seq]
        index = bisect.bisect_left(self._by_length, (entry.length, entry.seq))
        del self._by_length[index]
        self._queued_tokens -= entry.length

    def _take_batch(self, head: Pending) -> list[Pending]:
        batch = [head, *self._companions(head)]
        for entry in batch:
            self._remove(entry)
        return batch

    def _companions(self, head: Pending) -> list[Pending]:
        """Waiting items nearest in length to ``head`` that fit the budget, closest first."""
        chosen: list[Pending] = []
        width, real = head.length, head.length
        center = bisect.bisect_left(self._by_length, (head.length, head.seq))
        left, right = center - 1, center + 1
        while len(chosen) + 1 < self.max_batch_size:
            candidates = []
            if left >= 0:
                candidates.append((head.length - self._by_length[left][0], left, -1))
            if right < len(self._by_length):
                candidates.append((self._by_length[right][0] - head.length, right, +1))
            if not candidates:
                break
            _, index, direction = min(candidates)
            length, seq = self._by_length[index]
            new_width = max(width, length)
            count = len(chosen) + 2
            fits = new_width * count <= self.max_batch_tokens
            cheap = new_width * count <= (real + length) * (1 + self.max_padding_ratio)
            if not (fits and cheap):
                # the nearest candidate on this side is already too far: so is the rest of that side
                if direction < 0:
                    left = -1
                else:
                    right = len(self._by_length)
                continue
            chosen.append(self._fifo[seq])
            width, real = new_width, real + length
            if direction < 0:
                left -= 1
            else:
                right += 1
        return chosen
