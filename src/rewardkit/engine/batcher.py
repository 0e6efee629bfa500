"""Waiting items -> batches. Pure Python, thread-safe, no torch and no asyncio.

Policy: the oldest waiting item always goes into the next batch (so nothing starves), joined by
the oldest waiting items whose lengths are compatible with it: the batch stays under the
padded-token and size limits and its padding stays under ``max_padding_ratio`` of its real tokens,
and companions come from the ``max_lookahead`` oldest requests only. Taking compatible items in
arrival order from a bounded look-ahead keeps the latency tail close to a FIFO's while padding
stays bounded. Items that share a request are not special today; a group-aware policy (shared
prompts) can replace ``_companions`` without touching callers.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rewardkit.errors import QueueFullError, TooManyItemsError, whole_seconds

__all__ = ["Batcher", "Pending", "Reservation", "plan_batches", "prefix_blocks"]


@dataclass(eq=False)
class Pending:
    """An item waiting for the model, with where its result goes."""

    length: int
    payload: Any
    is_cancelled: Callable[[], bool] = field(default=lambda: False)
    enqueued_at: float = field(default_factory=time.monotonic)
    seq: int = 0
    group: int = 0  # items queued by one put() (one request) share a group
    prefix: tuple[tuple[int, int], ...] = ()
    """(length, hash) of leading blocks of the token ids (``prefix_blocks``): packed batches compute a
    prefix shared with another member once, so such an item costs the budget only the rest."""


PREFIX_BLOCKS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)


def prefix_blocks(ids: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """Hashes of the leading 16, 32, 64, ... tokens (each shorter than the sequence): the index by
    which the batcher sees that queued items share a prompt, without comparing token lists."""
    return tuple((n, hash(tuple(ids[:n]))) for n in PREFIX_BLOCKS if n < len(ids))


@dataclass(eq=False)
class Reservation:
    """Room held in the queue for a request's sequences while they are tokenized."""

    count: int


def plan_batches(
    lengths: Sequence[int],
    max_batch_tokens: int,
    max_batch_size: int,
    packed: bool = False,
    contents: Sequence[Sequence[int]] | None = None,
) -> list[list[int]]:
    """Offline plan: indices sorted by length, cut into batches under the token budget (padded
    tokens, or real tokens when batches run ``packed``). Packed, with the token ids as ``contents``,
    they are sorted by content instead: length no longer matters, and sequences that share a prompt
    land side by side, in one batch, where the prompt is computed once."""
    if packed and contents is not None:
        order = sorted(range(len(lengths)), key=lambda i: tuple(contents[i]))
    else:
        order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches: list[list[int]] = []
    current: list[int] = []
    total = 0
    for i in order:
        # padded plans are sorted descending, so the first index of a batch is its widest
        width = lengths[current[0]] if current else lengths[i]
        cost = total + lengths[i] if packed else width * (len(current) + 1)
        if current and (cost > max_batch_tokens or len(current) >= max_batch_size):
            batches.append(current)
            current, total = [], 0
        current.append(i)
        total += lengths[i]
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
        max_lookahead: int | None = None,
        packed: bool = False,
    ) -> None:
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.max_padding_ratio = max_padding_ratio
        self.max_lookahead = max_lookahead
        self.packed = packed
        """Batches run padding-free: the budget counts real tokens and padding does not limit them."""
        self._fifo: OrderedDict[int, Pending] = OrderedDict()
        self._queued_tokens = 0
        self._reserved = 0
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._closed = False

    @property
    def depth(self) -> int:
        return len(self._fifo)

    @property
    def committed(self) -> int:
        """Sequences waiting plus those held for requests still being tokenized."""
        return len(self._fifo) + self._reserved

    @property
    def full(self) -> bool:
        """Not even one more sequence would be admitted now."""
        return self.committed >= self.max_queue

    def reserve(self, count: int, retry_after: float = 1.0) -> Reservation:
        """Hold room for ``count`` sequences before they are tokenized, so that a full queue refuses a
        request before the server spends anything on it. Hand it to ``put`` (or ``release`` it)."""
        with self._cond:
            self._admit(count, retry_after)
            self._reserved += count
            return Reservation(count)

    def release(self, reservation: Reservation) -> None:
        """Give back what ``put`` did not use (idempotent)."""
        with self._cond:
            self._reserved -= reservation.count
            reservation.count = 0

    def _admit(self, count: int, retry_after: float) -> None:
        if self._closed:
            raise QueueFullError("the server is shutting down; retry against another replica", retry_after=5.0)
        if count > self.max_queue:
            raise TooManyItemsError(
                f"one request holds {count} sequences, more than the queue's {self.max_queue}; "
                "split it into smaller requests or raise --max-queue"
            )
        if self.committed + count > self.max_queue:
            raise QueueFullError(
                f"the queue is full ({self.committed} of {self.max_queue} sequences waiting or being prepared); "
                f"retry in about {whole_seconds(retry_after)} s",
                retry_after=retry_after,
            )

    def put(self, entries: Sequence[Pending], reservation: Reservation | None = None, retry_after: float = 1.0) -> None:
        """Queue all entries or none (a request is never half-queued), in the room ``reservation`` held."""
        with self._cond:
            if reservation is not None:
                self._reserved -= reservation.count
                reservation.count = 0
            self._admit(len(entries), retry_after)
            group = -1
            for entry in entries:
                entry.seq = next(self._seq)
                group = entry.seq if group < 0 else group
                entry.group = group
                self._fifo[entry.seq] = entry
                self._queued_tokens += entry.length
            self._cond.notify()

    def discard(self, entry: Pending) -> None:
        """Drop a waiting entry whose caller has gone (no-op if it was taken or dropped already)."""
        with self._cond:
            if entry.seq in self._fifo and self._fifo[entry.seq] is entry:
                self._remove(entry)

    def close(self) -> list[Pending]:
        """Stop accepting work and hand back everything still waiting."""
        with self._cond:
            self._closed = True
            left = list(self._fifo.values())
            self._fifo.clear()
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
        self._queued_tokens -= entry.length

    def _take_batch(self, head: Pending) -> list[Pending]:
        batch = [head, *self._companions(head)]
        for entry in batch:
            self._remove(entry)
        return batch

    def _fits(self, width: int, count: int, real: int, computed: int) -> bool:
        """A batch of ``count`` sequences, ``real`` tokens, the longest ``width``: under the token budget
        (tokens ``computed`` when packed, shared prefixes once; padded tokens otherwise) and, padded,
        under the padding ratio."""
        if self.packed:
            return computed <= self.max_batch_tokens
        return width * count <= min(self.max_batch_tokens, real * (1 + self.max_padding_ratio))

    def _companions(self, head: Pending) -> list[Pending]:
        """The oldest waiting items that fit beside ``head``: under the token budget, the size limit
        and the padding ratio, from the ``max_lookahead`` oldest requests. A companion overtakes the
        older requests it skips (reordering inside one request costs that request nothing), so
        taking them oldest first from a bounded look-ahead keeps the latency tail near a FIFO's
        while most of the batching gain remains."""
        chosen: list[Pending] = []
        width, real = head.length, head.length
        computed, blocks = head.length, set(head.prefix)
        groups = {head.group}
        for entry in itertools.islice(self._fifo.values(), 1, None):
            if len(chosen) + 1 >= self.max_batch_size:
                break
            if entry.group not in groups:
                if self.max_lookahead is not None and len(groups) >= self.max_lookahead:
                    break
                groups.add(entry.group)
            new_width = max(width, entry.length)
            count = len(chosen) + 2
            shared = max((n for n, h in entry.prefix if (n, h) in blocks), default=0)
            if not self._fits(new_width, count, real + entry.length, computed + entry.length - shared):
                continue
            chosen.append(entry)
            width, real, computed = new_width, real + entry.length, computed + entry.length - shared
            blocks.update(entry.prefix)
        return chosen
