"""Attention over a packed row's segments (models/segment_attention.py): every segment shape the
packed forward produces (alone, after an in-row prefix, after keys from the prefix cache, after
both) equals that segment attended on its own with its keys spelled out and an explicit mask."""

from __future__ import annotations

import pytest
import torch

from rewardkit.models.segment_attention import attend_segments

HEADS, KV_HEADS, DIM = 6, 2, 16


def row(dtype: torch.dtype, seed: int = 0):
    """A packed row: a lone sequence, a prefix with two continuations, a segment after cached keys
    only and one after cached keys and the in-row prefix; plus the cached keys and values."""
    prefix = 40
    lengths = [23, prefix, 9, 37, 3, 31]
    total = sum(lengths)
    generator = torch.Generator().manual_seed(seed)

    def sample(*shape):
        return torch.randn(*shape, generator=generator).to(dtype)

    query, key, value = sample(1, HEADS, total, DIM), sample(1, KV_HEADS, total, DIM), sample(1, KV_HEADS, total, DIM)
    cached = (sample(KV_HEADS, 50, DIM), sample(KV_HEADS, 50, DIM))
    starts = [sum(lengths[:i]) for i in range(len(lengths))]
    in_row = (starts[1], starts[2])
    segments = [
        (starts[0], starts[1], 0, 0, 0, 0),
        (starts[1], starts[2], 0, 0, 0, 0),
        (starts[2], starts[3], *in_row, 0, 0),
        (starts[3], starts[4], *in_row, 0, 0),
        (starts[4], starts[5], 0, 0, 10, 50),  # only cached keys before it
        (starts[5], total, *in_row, 0, 20),  # cached keys, then the in-row prefix, then its own
    ]
    return query, key, value, segments, cached


def reference(query, key, value, segments, cached):
    """Each segment on its own, its keys spelled out, through float32 SDPA with an explicit mask."""
    out = torch.empty(query.shape, dtype=torch.float32)
    q32, k32, v32 = query.float(), key.float(), value.float()
    for start, end, prefix_start, prefix_end, cached_start, cached_end in segments:
        keys = torch.cat(
            [cached[0][:, cached_start:cached_end].float(), k32[0, :, prefix_start:prefix_end], k32[0, :, start:end]], 1
        )
        values = torch.cat(
            [cached[1][:, cached_start:cached_end].float(), v32[0, :, prefix_start:prefix_end], v32[0, :, start:end]], 1
        )
        n, m = end - start, keys.shape[1]
        allowed = torch.ones(n, m, dtype=torch.bool).tril(m - n)
        expanded_k = keys.repeat_interleave(HEADS // KV_HEADS, 0)
        expanded_v = values.repeat_interleave(HEADS // KV_HEADS, 0)
        out[0, :, start:end] = torch.nn.functional.scaled_dot_product_attention(
            q32[0, :, start:end], expanded_k, expanded_v, attn_mask=allowed, scale=0.3
        )
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_each_segment_equals_it_attended_alone(dtype):
    query, key, value, segments, cached = row(dtype)
    got = attend_segments(query, key, value, segments, 0.3, cached)
    assert got.is_contiguous() and got.dtype == dtype
    atol = 1e-5 if dtype == torch.float32 else 2e-2
    assert torch.allclose(got.float(), reference(query, key, value, segments, cached), atol=atol)
