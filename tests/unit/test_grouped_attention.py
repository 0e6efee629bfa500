"""Attention over a packed row in batched groups equals attention run segment by segment, for any
mix of lengths and shared prefixes; every row is computed once and the padding stays bounded."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from rewardkit.models.grouped_attention import MAX_PADDING, attend, plan_attention
from rewardkit.models.packing import pack


def alone(query, key, value, segments, scale):
    """Each segment on its own: its queries against its prefix's keys, then its own, causally."""
    out = torch.empty_like(query)
    for start, end, prefix_start, prefix_end in segments:
        rows = [*range(prefix_start, prefix_end), *range(start, end)]
        q = query[start:end].transpose(0, 1)
        k = key[rows].repeat_interleave(query.shape[1] // key.shape[1], dim=1).transpose(0, 1)
        v = value[rows].repeat_interleave(query.shape[1] // key.shape[1], dim=1).transpose(0, 1)
        scores = (q @ k.transpose(1, 2)) * scale
        allowed = torch.ones(end - start, len(rows), dtype=torch.bool).tril(len(rows) - (end - start))
        out[start:end] = (scores.masked_fill(~allowed, float("-inf")).softmax(-1) @ v).transpose(0, 1)
    return out


def random_sequences(seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    prompts = [[rng.randrange(50) for _ in range(rng.randint(8, 40))] for _ in range(3)]
    sequences = []
    for _ in range(rng.randint(3, 14)):
        tail = [rng.randrange(50) for _ in range(rng.randint(1, 60))]
        sequences.append(rng.choice(prompts) + tail if rng.random() < 0.5 else tail)
    return sequences


@pytest.mark.parametrize("seed", range(8))
def test_grouped_attention_equals_each_segment_alone(seed):
    row = pack(random_sequences(seed))
    torch.manual_seed(seed)
    total = len(row.ids)
    query, key, value = torch.randn(total, 6, 8), torch.randn(total, 2, 8), torch.randn(total, 2, 8)
    plan = plan_attention(row.segments, "cpu")
    got = attend(query, key, value, plan, 0.3)
    assert torch.allclose(got, alone(query, key, value, row.segments, 0.3), atol=1e-5)


def test_every_row_is_computed_once_and_padding_stays_bounded():
    lengths = [3, 5, 40, 41, 44, 200, 7, 7, 7, 180]
    segments, start = [], 0
    for length in lengths:
        segments.append((start, start + length, 0, 0))
        start += length
    plan = plan_attention(segments, "cpu")
    assert sorted(plan.order.tolist()) == sorted(set(plan.order.tolist()))
    padded = sum(group.queries.numel() for group in plan.groups)
    assert padded <= MAX_PADDING * sum(lengths)
    assert len(plan.groups) < len(lengths)


def test_segments_continuing_prefixes_of_different_lengths_are_never_batched_together():
    segments = [(0, 10, 0, 0), (10, 14, 0, 10), (14, 30, 0, 0), (30, 34, 14, 30), (34, 38, 0, 10)]
    plan = plan_attention(segments, "cpu")
    prefixes = sorted(group.prefix for group in plan.groups)
    assert prefixes == [0, 10, 16]
    assert [len(group.queries) for group in sorted(plan.groups, key=lambda g: g.prefix)] == [2, 2, 1]


def test_half_precision_follows_scaled_dot_product_attention():
    row = pack(random_sequences(3))
    torch.manual_seed(0)
    total = len(row.ids)
    query, key, value = (torch.randn(total, h, 16, dtype=torch.bfloat16) for h in (4, 2, 2))
    got = attend(query, key, value, plan_attention(row.segments, "cpu"), 0.25).float()
    want = alone(query.float(), key.float(), value.float(), row.segments, 0.25)
    assert (got - want).abs().max() < 2e-2
    assert F.cosine_similarity(got.flatten(), want.flatten(), dim=0) > 0.9999
