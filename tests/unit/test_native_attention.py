"""The native segment-attention kernel against an independent reference: SDPA per segment in float64
over the same keys (cached span, then in-row prefix, then its own, causal from the bottom right), for
random segment layouts, head sizes (whole vectors and not), grouped-query heads, float32 and bf16."""

from __future__ import annotations

import random

import pytest
import torch

from rewardkit.models import native_attention
from rewardkit.models.segment_attention import attend_segments

pytestmark = pytest.mark.skipif(native_attention.kernel() is None, reason="no C compiler here")

LEAD = 7  # rows before the first segment: an in-row prefix lives there


def problem(rng: random.Random, dtype: torch.dtype, dim: int):
    kv_heads = rng.choice([1, 2, 3])
    heads = kv_heads * rng.choice([1, 3])
    lengths = [rng.randint(1, 70) for _ in range(rng.randint(1, 4))]
    total = LEAD + sum(lengths)
    q, k, v = (torch.randn(h, total, dim).to(dtype) for h in (heads, kv_heads, kv_heads))
    cached = (torch.randn(kv_heads, 40, dim).to(dtype), torch.randn(kv_heads, 40, dim).to(dtype))
    segments, at = [], LEAD
    for length in lengths:
        prefix = (0, rng.randint(0, LEAD)) if rng.random() < 0.5 else (0, 0)
        start = rng.randint(0, 20)
        span = (start, start + rng.randint(0, 20)) if rng.random() < 0.5 else (start, start)
        segments.append((at, at + length, *prefix, *span))
        at += length
    return q, k, v, cached, segments


def reference(q, k, v, cached, segments) -> torch.Tensor:
    wide = [t[None].double() for t in (q, k, v)]
    return attend_segments(*wide, segments, q.shape[-1] ** -0.5, tuple(t.double() for t in cached), native=False)[0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("dim", [8, 24, 64, 80, 128])
def test_random_layouts_equal_the_float64_reference(dtype, dim):
    rng = random.Random(dim)
    for _ in range(12):
        q, k, v, cached, segments = problem(rng, dtype, dim)
        expected = reference(q, k, v, cached, segments)[:, LEAD:]
        native = attend_segments(q[None], k[None], v[None], segments, dim**-0.5, cached)[0][:, LEAD:]
        sdpa = attend_segments(q[None], k[None], v[None], segments, dim**-0.5, cached, native=False)[0][:, LEAD:]
        error = (native.double() - expected).abs().max().item()
        if dtype == torch.float32:
            assert error < 1e-5
        else:  # bf16 output rounding; no worse than torch's own kernel on the same inputs
            assert error <= max(1e-2, 1.05 * (sdpa.double() - expected).abs().max().item())


def test_token_major_output_is_the_same_numbers_laid_out_for_the_output_projection():
    q, k, v, cached, segments = problem(random.Random(1), torch.float32, 64)
    plain = attend_segments(q[None], k[None], v[None], segments, 0.125, cached)[0]
    token_major = attend_segments(q[None], k[None], v[None], segments, 0.125, cached, token_major=True)[0]
    assert torch.equal(plain[:, LEAD:], token_major[:, LEAD:])
    assert token_major.transpose(0, 1).is_contiguous()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_segment_gets_the_same_bits_alone_beside_others_and_on_any_thread_count(dtype):
    q, k, v, _, _ = problem(random.Random(2), dtype, 64)
    total = q.shape[1]
    together = [(0, 50, 0, 0), (50, total, 0, 0)]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        both = attend_segments(q[None], k[None], v[None], together, 0.125)[0]
        torch.set_num_threads(1)
        alone = attend_segments(q[None], k[None], v[None], together[1:], 0.125)[0]
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(both[:, 50:], alone[:, 50:])


def test_switched_off_or_without_a_compiler_the_sdpa_loop_runs_and_says_why(monkeypatch):
    q, k, v, cached, segments = problem(random.Random(3), torch.float32, 32)
    native = attend_segments(q[None], k[None], v[None], segments, 0.2, cached)[0]
    monkeypatch.setenv("REWARDKIT_NATIVE_ATTENTION", "0")
    assert native_attention.kernel() is None
    assert native_attention.unavailable_reason() == "REWARDKIT_NATIVE_ATTENTION=0"
    fallback = attend_segments(q[None], k[None], v[None], segments, 0.2, cached)[0]
    torch.testing.assert_close(fallback[:, LEAD:], native[:, LEAD:], rtol=0, atol=1e-5)
    monkeypatch.delenv("REWARDKIT_NATIVE_ATTENTION")
    monkeypatch.setenv("CC", "/nonexistent/cc")
    assert native_attention.kernel() is None
    assert "does not run" in native_attention.unavailable_reason()


def test_a_cache_folder_that_cannot_be_written_falls_back_and_says_why(monkeypatch, tmp_path):
    occupied = tmp_path / "a-file"
    occupied.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(occupied))
    assert native_attention.kernel() is None
    assert "could not be built or loaded" in native_attention.unavailable_reason()
