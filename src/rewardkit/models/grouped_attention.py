"""Attention over a packed row's segments in a few batched calls instead of one call per segment.

A packed row holds many sequences; each attends causally to itself and, when it continues a shared
prefix, to all of that prefix first. Run as one attention call per segment, a row of 30 sequences
is 30 small calls per layer, each too small to keep the cores busy. Here the segments are grouped
by the length of the prefix they continue (0 for most) and, within that, by length; each group is
gathered into one right-padded batch and runs as ONE scaled-dot-product attention call:

- a segment's keys are its prefix's rows, then its own rows, then padding;
- a query at own position j attends to keys 0 .. prefix + j: causal, aligned to the bottom right
  of the (queries x keys) square, which is the same mask for every member of a group because they
  share the prefix length. Padding keys lie after every real key, where causality already hides
  them from every real query, so no padding mask is needed; padded queries are computed and
  dropped.

The plan (which rows go where) is built once per forward, on the host, and reused by every layer.
It knows nothing of models: rows of queries, keys and values in, rows of outputs out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_PADDING", "AttentionPlan", "Group", "attend", "plan_attention"]

MAX_PADDING = 1.25
"""A group's padded query tokens may be at most this many times its real ones."""


@dataclass(frozen=True)
class Group:
    """One batched attention call: ``queries`` [B, Lq] and ``keys`` [B, prefix + Lq] row indices
    (padding repeats a member's last row), ``prefix`` the shared prefix length of every member."""

    queries: Any
    keys: Any
    prefix: int


@dataclass(frozen=True)
class AttentionPlan:
    """The groups of a row, and ``order``: for each row position, where its output lies in the
    concatenation of the groups' flattened [B * Lq] outputs."""

    groups: tuple[Group, ...]
    order: Any


def _chunks(members: list[tuple[int, int, int, int]]) -> list[list[tuple[int, int, int, int]]]:
    """Split segments (sorted by length) into runs whose padding stays under MAX_PADDING."""
    chunks: list[list[tuple[int, int, int, int]]] = []
    current: list[tuple[int, int, int, int]] = []
    real = 0
    for segment in members:
        length = segment[1] - segment[0]
        if current and (len(current) + 1) * length > MAX_PADDING * (real + length):
            chunks.append(current)
            current, real = [], 0
        current.append(segment)
        real += length
    if current:
        chunks.append(current)
    return chunks


def plan_attention(segments: Sequence[tuple[int, int, int, int]], device: Any) -> AttentionPlan:
    """The plan for a row's ``segments``: (start, end, prefix_start, prefix_end), covering the row."""
    import torch

    by_prefix: dict[int, list[tuple[int, int, int, int]]] = {}
    for segment in segments:
        by_prefix.setdefault(segment[3] - segment[2], []).append(tuple(segment))  # type: ignore[arg-type]
    total = max(end for _, end, _, _ in segments)
    order = [0] * total
    groups: list[Group] = []
    placed = 0
    for prefix, members in sorted(by_prefix.items()):
        members.sort(key=lambda s: s[1] - s[0])
        for chunk in _chunks(members):
            width = max(end - start for start, end, _, _ in chunk)
            queries, keys = [], []
            for slot, (start, end, prefix_start, prefix_end) in enumerate(chunk):
                own = list(range(start, end))
                queries.append(own + [end - 1] * (width - len(own)))
                keys.append(list(range(prefix_start, prefix_end)) + queries[-1])
                for j, row in enumerate(own):
                    order[row] = placed + slot * width + j
            placed += len(chunk) * width
            groups.append(
                Group(
                    queries=torch.tensor(queries, dtype=torch.long, device=device),
                    keys=torch.tensor(keys, dtype=torch.long, device=device),
                    prefix=prefix,
                )
            )
    return AttentionPlan(tuple(groups), torch.tensor(order, dtype=torch.long, device=device))


def attend(query: Any, key: Any, value: Any, plan: AttentionPlan, scale: float) -> Any:
    """Rows [T, heads, dim] of queries and [T, kv_heads, dim] of keys and values -> [T, heads, dim]."""
    import torch
    import torch.nn.functional as F
    from torch.nn.attention.bias import causal_lower_right

    outputs = []
    gqa = query.shape[1] != key.shape[1]
    for group in plan.groups:
        q = query[group.queries].transpose(1, 2)  # [B, heads, Lq, dim]
        k = key[group.keys].transpose(1, 2)
        v = value[group.keys].transpose(1, 2)
        if group.prefix:
            mask = causal_lower_right(q.shape[2], k.shape[2])
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale, enable_gqa=gqa)
        else:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale, enable_gqa=gqa)
        outputs.append(out.transpose(1, 2).reshape(-1, query.shape[1], query.shape[2]))
    flat = outputs[0] if len(outputs) == 1 else torch.cat(outputs)
    return flat[plan.order]
