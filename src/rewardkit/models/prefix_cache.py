"""Keys and values of earlier packed forwards, kept by token prefix, so that a prompt computed by one
batch is not computed again by the next (automatic prefix caching, as vLLM has it, for the fused
CPU forward of models/fused_decoder.py).

Traffic repeats prefixes across batches far more than inside one: GRPO sends a prompt's answers one
request each, Best-of-N and tree search come back to the same prompt, preference data scores the
chosen and the rejected answer of one conversation apart. A causal model's keys and values at a
token depend only on the tokens up to it, so those of a prefix computed once serve every later
sequence that starts with it, exactly (to float noise: the same arithmetic in another batch shape).

The cache is a tree of BLOCK-token blocks: a block is found by its parent block and its own tokens
(compared, never hashed alone, so two different prefixes can never share an entry), and its keys
and values live in one slot of a preallocated pool, [layers, 2, kv_heads, slots, BLOCK, head_dim],
so the cached prefixes of a whole batch are gathered in one indexing operation. Slots are handed
out lowest first (untouched pages of the pool cost no memory) and taken back least recently used
first; a parent is always used more recently than its children, so leaves go first.

A sequence may take from the cache only tokens whose hidden states nobody reads (a reward read at
the last token keeps that token computed; a process reward model keeps every step tag of its
answer), and only whole blocks. Blocks that a batch computes are written into the pool during its
forward and become visible only once the forward has succeeded. Forwards may run in several threads
at once (a RewardModel shared by threads): the bookkeeping is under one lock, the pool is read only
under it, and a block being written is never handed to another forward.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BLOCK", "CachedRow", "PrefixCache"]

BLOCK = 16
"""Tokens per cached block: a prefix is reused in whole blocks."""


@dataclass(eq=False)
class _Block:
    key: tuple[int, tuple[int, ...]]
    id: int
    slot: int
    filled: bool = False
    batch: int = 0


@dataclass
class CachedRow:
    """A packed row with its cached prefixes taken out: ``segments`` are (start, end, prefix start,
    prefix end, cached start, cached end), the cached span indexing the gathered keys/values
    ``cached`` [layers, 2, kv_heads, C, head_dim] (None when nothing was found); ``reads`` the row
    positions whose hidden states are wanted; the blocks to keep are written during the forward by
    ``keep``."""

    ids: list[int]
    positions: list[int]
    segments: list[tuple[int, int, int, int, int, int]]
    reads: list[int]
    cached: Any = None
    hit_tokens: int = 0
    _cache: PrefixCache | None = None
    _slots: Any = None
    _rows: Any = None
    _pending: list[_Block] = field(default_factory=list)

    def cached_layer(self, layer: int) -> tuple[Any, Any] | None:
        """This layer's cached keys and values, [kv_heads, C, head_dim] each, or None."""
        if self.cached is None:
            return None
        return self.cached[layer, 0], self.cached[layer, 1]

    def keep(self, layer: int, key: Any, value: Any) -> None:
        """Write this layer's keys and values ([kv_heads, T, head_dim], rotated) of the new blocks."""
        if self._slots is None or self._cache is None:
            return
        pool = self._cache.pool
        shape = (key.shape[0], len(self._slots), BLOCK, key.shape[-1])
        pool[layer, 0].index_copy_(1, self._slots, key.index_select(1, self._rows).view(shape))
        pool[layer, 1].index_copy_(1, self._slots, value.index_select(1, self._rows).view(shape))

    def commit(self) -> None:
        """The forward succeeded: its blocks may be read from now on."""
        if self._cache is not None:
            with self._cache.lock:
                for block in self._pending:
                    block.filled = True
        self._pending = []

    def abandon(self) -> None:
        """The forward failed: its blocks were never written; give their slots back."""
        if self._cache is not None:
            self._cache.drop(self._pending)
        self._pending = []


class PrefixCache:
    """Keys and values by token prefix, for one model's packed forward (see the module docstring)."""

    def __init__(
        self, *, layers: int, kv_heads: int, head_dim: int, dtype: Any, device: Any, capacity_bytes: int
    ) -> None:
        import torch

        itemsize = torch.empty(0, dtype=dtype).element_size()
        self.block_bytes = layers * 2 * kv_heads * BLOCK * head_dim * itemsize
        self.slots = int(capacity_bytes // self.block_bytes)
        if self.slots < 1:
            raise ValueError(
                f"a prefix cache of {capacity_bytes} bytes holds no block of {BLOCK} tokens "
                f"({self.block_bytes} bytes for this model); give it more space or turn it off"
            )
        self.pool = torch.empty((layers, 2, kv_heads, self.slots, BLOCK, head_dim), dtype=dtype, device=device)
        self._blocks: OrderedDict[tuple[int, tuple[int, ...]], _Block] = OrderedDict()  # oldest first
        self._free = list(range(self.slots - 1, -1, -1))  # pop() hands out the lowest slot
        self._next_id = 1
        self._batch = 0
        self.lock = threading.Lock()
        self.hit_tokens = 0
        """Tokens taken from the cache instead of computed, since the start."""

    def describe(self) -> str:
        """What /info says about the cache."""
        gib = self.slots * self.block_bytes / 2**30
        return f"{gib:.2f} GiB, {self.slots * BLOCK:,} tokens in blocks of {BLOCK}"

    def plan(
        self, ids: Sequence[int], positions: Sequence[int], segments: Sequence[Sequence[int]], reads: Sequence[int]
    ) -> CachedRow:
        """The row (``ids``, ``positions``, ``segments`` of models/packing.pack, ``reads`` its row
        positions to read) with every cached prefix taken out, and the blocks it will compute marked
        for keeping."""
        with self.lock:
            return self._plan(ids, positions, segments, reads)

    def _plan(
        self, ids: Sequence[int], positions: Sequence[int], segments: Sequence[Sequence[int]], reads: Sequence[int]
    ) -> CachedRow:
        import torch

        self._batch += 1
        leading = [i for i, s in enumerate(segments) if s[2] == s[3]]
        first_read = {i: segments[i][1] - segments[i][0] for i in leading}
        owner = _segment_of(segments, leading)
        for r in reads:
            i = owner(r)
            if i is not None:
                first_read[i] = min(first_read[i], r - segments[i][0])
        hits: dict[int, list[_Block]] = {}
        for i in leading:
            start, end = segments[i][0], segments[i][1]
            hits[i] = self._lookup(ids[start:end], first_read[i])
        drop = {i: len(path) * BLOCK for i, path in hits.items()}
        new_start = _new_positions(segments, drop)
        row = _without_cached(ids, positions, segments, reads, drop, new_start)
        slots = [b.slot for i in leading for b in hits[i]]
        if slots:
            index = torch.tensor(slots, dtype=torch.long, device=self.pool.device)
            gathered = self.pool.index_select(3, index)
            row.cached = gathered.reshape(*gathered.shape[:3], -1, gathered.shape[-1])
        row.hit_tokens = sum(drop.values())
        self.hit_tokens += row.hit_tokens
        self._plan_keeping(row, ids, segments, leading, hits, drop, new_start)
        return row

    def _lookup(self, tokens: Sequence[int], limit: int) -> list[_Block]:
        """The filled blocks that start ``tokens``, at most ``limit`` tokens of them."""
        path: list[_Block] = []
        parent = 0
        while (len(path) + 1) * BLOCK <= limit:
            at = len(path) * BLOCK
            block = self._blocks.get((parent, tuple(tokens[at : at + BLOCK])))
            if block is None or not block.filled:
                break
            path.append(block)
            parent = block.id
        for block in reversed(path):  # children first: a parent stays more recent than its children
            block.batch = self._batch
            self._blocks.move_to_end(block.key)
        return path

    def _plan_keeping(
        self,
        row: CachedRow,
        ids: Sequence[int],
        segments: Sequence[Sequence[int]],
        leading: list[int],
        hits: dict[int, list[_Block]],
        drop: dict[int, int],
        new_start: list[int],
    ) -> None:
        """Allocate a slot for every whole block of every sequence in the row that the cache does not
        hold yet, and remember where its tokens are in ``row``."""
        import torch

        slots: list[int] = []
        rows: list[int] = []
        touched: list[_Block] = []
        for i in leading:
            start, end = segments[i][0], segments[i][1]
            continuations = [k for k, s in enumerate(segments) if s[2] == start and s[3] == end and s[3] > s[2]]
            if not continuations:  # a sequence alone: its tokens are this segment
                tails = [(list(ids[start:end]), [(start, end, i)])]
            else:  # a shared prefix: each continuation is the prefix, then its own tokens
                tails = [
                    ([*ids[start:end], *ids[segments[k][0] : segments[k][1]]], [(start, end, i), (*segments[k][:2], k)])
                    for k in continuations
                ]
            for tokens, spans in tails:
                where = _row_places(spans, drop, new_start)
                parent = hits[i][-1].id if hits[i] else 0
                touched.extend(hits[i])
                for at in range(drop[i], len(tokens) - BLOCK + 1, BLOCK):
                    key = (parent, tuple(tokens[at : at + BLOCK]))
                    block = self._blocks.get(key)
                    if block is None:
                        slot = self._take_slot()
                        if slot is None:
                            break
                        block = _Block(key=key, id=self._next_id, slot=slot, batch=self._batch)
                        self._next_id += 1
                        self._blocks[key] = block
                        row._pending.append(block)
                        slots.append(slot)
                        rows.extend(where[at : at + BLOCK])
                    touched.append(block)
                    block.batch = self._batch  # never evicted by this batch's own allocations
                    self._blocks.move_to_end(key)
                    parent = block.id
        for block in reversed(touched):
            block.batch = self._batch
            self._blocks.move_to_end(block.key)
        if slots:
            device = self.pool.device
            row._cache = self
            row._slots = torch.tensor(slots, dtype=torch.long, device=device)
            row._rows = torch.tensor(rows, dtype=torch.long, device=device)

    def _take_slot(self) -> int | None:
        """A free slot, evicting the least recently used block of an earlier batch if need be."""
        if not self._free:
            if not self._blocks:
                return None
            oldest = next(iter(self._blocks.values()))
            if oldest.batch == self._batch or not oldest.filled:  # this batch's own, or another forward's
                return None
            self._drop(oldest)
        return self._free.pop()

    def drop(self, blocks: Sequence[_Block]) -> None:
        """Forget ``blocks`` and free their slots (their descendants become unreachable and age out)."""
        with self.lock:
            for block in blocks:
                self._drop(block)

    def _drop(self, block: _Block) -> None:
        if self._blocks.get(block.key) is block:
            del self._blocks[block.key]
            self._free.append(block.slot)


def _segment_of(segments: Sequence[Sequence[int]], among: Sequence[int]) -> Any:
    """A function: row position -> the segment of ``among`` (indices in row order) holding it, or None."""
    starts = [segments[i][0] for i in among]

    def owner(position: int) -> int | None:
        k = bisect.bisect_right(starts, position) - 1
        if k < 0:
            return None
        i = among[k]
        return i if position < segments[i][1] else None

    return owner


def _new_positions(segments: Sequence[Sequence[int]], drop: dict[int, int]) -> list[int]:
    """Each segment's start in the row once ``drop[i]`` leading tokens of segment i are taken out."""
    starts, removed = [], 0
    for i, segment in enumerate(segments):
        starts.append(segment[0] - removed)
        removed += drop.get(i, 0)
    return starts


def _row_places(spans: list[tuple[int, int, int]], drop: dict[int, int], new_start: list[int]) -> list[int]:
    """A sequence's token positions -> new row positions (-1 for tokens taken from the cache), for a
    sequence laid out as the old row ``spans`` (start, end, segment) in order."""
    places: list[int] = []
    for start, end, i in spans:
        cut = drop.get(i, 0)
        places.extend([-1] * cut)
        places.extend(range(new_start[i], new_start[i] + end - start - cut))
    return places


def _without_cached(
    ids: Sequence[int],
    positions: Sequence[int],
    segments: Sequence[Sequence[int]],
    reads: Sequence[int],
    drop: dict[int, int],
    new_start: list[int],
) -> CachedRow:
    """The row with the first ``drop[i]`` tokens of each leading segment i taken out (segment i then
    starts at ``new_start[i]``); those tokens' keys and values come from the gathered cache, in the
    order of the leading segments."""
    new_ids: list[int] = []
    new_positions: list[int] = []
    cached_at: dict[int, tuple[int, int]] = {}
    offset = 0
    for i, (start, end, *_rest) in enumerate(segments):
        cut = drop.get(i, 0)
        if i in drop:
            cached_at[i] = (offset, offset + cut)
            offset += cut
        new_ids.extend(ids[start + cut : end])
        new_positions.extend(positions[start + cut : end])
    by_span = {(segments[i][0], segments[i][1]): i for i in drop}
    new_segments = []
    for i, (start, end, prefix_start, prefix_end) in enumerate(segments):
        own = (new_start[i], new_start[i] + end - start - drop.get(i, 0))
        if i in drop:
            if own[1] > own[0]:  # a prefix taken whole from the cache has no row segment left
                new_segments.append((*own, 0, 0, *cached_at[i]))
            continue
        k = by_span[(prefix_start, prefix_end)]
        prefix = (new_start[k], new_start[k] + prefix_end - prefix_start - drop[k])
        new_segments.append((*own, *prefix, *cached_at[k]))
    owner = _segment_of(segments, range(len(segments)))  # the segments tile the row

    def moved(r: int) -> int:
        i = owner(r)
        return new_start[i] + r - segments[i][0] - drop.get(i, 0)

    return CachedRow(ids=new_ids, positions=new_positions, segments=new_segments, reads=[moved(r) for r in reads])
