"""The prefix cache's bookkeeping, with a stand-in forward whose "keys" name their token and position:
what a row takes from the cache must be exactly the earlier tokens it replaces, the rest of the row
and its reads must stay where the packed forward expects them, and blocks come and go as the module
says (whole blocks, read positions always computed, least recently used out, nothing from a failed
forward)."""

from __future__ import annotations

import pytest
import torch

from rewardkit.models.packing import pack
from rewardkit.models.prefix_cache import BLOCK, PrefixCache


def new_cache(blocks: int = 64) -> PrefixCache:
    one_block = 1 * 2 * 1 * BLOCK * 1 * 4  # layers, k/v, kv heads, tokens, head dim, float32 bytes
    return PrefixCache(
        layers=1, kv_heads=1, head_dim=1, dtype=torch.float32, device="cpu", capacity_bytes=blocks * one_block
    )


def stamp(token: int, position: int) -> float:
    """What the stand-in forward computes as the key of a token at a position."""
    return float(token * 1000 + position)


def run(cache: PrefixCache, sequences: list[list[int]], reads: list[list[int]] | None = None, fail: bool = False):
    """Plan a packed row of ``sequences`` and run the stand-in forward over it. Returns the plan and,
    per sequence, the stamps its queries and reads see: (keys of its cached span, then in-row prefix,
    then own tokens), checked against the sequence itself."""
    row = pack(sequences)
    reads = reads or [[len(s) - 1] for s in sequences]
    index = [row.at(i, p) for i, positions in enumerate(reads) for p in positions]
    plan = cache.plan(row.ids, row.positions, row.segments, index)
    keys = torch.tensor([stamp(t, p) for t, p in zip(plan.ids, plan.positions)])[None, :, None]
    plan.keep(0, keys, keys)
    if fail:
        plan.abandon()
        return plan
    plan.commit()
    cached = plan.cached_layer(0)
    for start, end, prefix_start, prefix_end, cached_start, cached_end in plan.segments:
        seen = []
        if cached_end > cached_start:
            assert torch.equal(cached[0], cached[1])
            seen += cached[0][0, cached_start:cached_end, 0].tolist()
        seen += keys[0, prefix_start:prefix_end, 0].tolist() + keys[0, start:end, 0].tolist()
        assert seen == [stamp(*_token_at(sequences, seen, p)) for p in range(len(seen))]
    read_stamps = [keys[0, r, 0].item() for r in plan.reads]
    expected = [stamp(sequences[i][p], p) for i, positions in enumerate(reads) for p in positions]
    assert read_stamps == expected
    return plan


def _token_at(sequences: list[list[int]], seen: list[float], position: int) -> tuple[int, int]:
    """The token at ``position`` of the sequence whose stamps ``seen`` starts with."""
    for s in sequences:
        if len(s) >= len(seen) and all(stamp(s[p], p) == seen[p] for p in range(len(seen))):
            return s[position], position
    raise AssertionError(f"no sequence matches what a segment sees: {seen[:5]}...")


def tokens(start: int, n: int) -> list[int]:
    return list(range(start, start + n))


def test_a_sequence_seen_before_computes_only_its_last_partial_block():
    cache = new_cache()
    seq = tokens(1, 40)
    first = run(cache, [seq])
    assert first.hit_tokens == 0 and len(first.ids) == 40
    again = run(cache, [seq])
    assert again.hit_tokens == 32 and again.ids == seq[32:] and cache.hit_tokens == 32


def test_the_read_token_is_always_computed():
    cache = new_cache()
    seq = tokens(1, 48)
    run(cache, [seq])
    again = run(cache, [seq])  # read at its last token, 47: blocks 0-1 cached, block 2 computed
    assert again.hit_tokens == 32
    prm = run(cache, [seq], reads=[[20, 40, 47]])  # a step read at 20 stops the cache inside block 1
    assert prm.hit_tokens == 16


def test_answers_to_one_prompt_reuse_it_across_batches_and_in_one():
    cache = new_cache()
    prompt = tokens(1, 37)
    answers = [prompt + tokens(500 + 10 * k, 5 + k) for k in range(4)]
    run(cache, [answers[0]])  # the first answer alone: its whole blocks are kept
    later = run(cache, answers[1:])  # three more in one row: the prompt's 2 blocks from the cache
    assert later.hit_tokens == 32
    assert len(later.ids) == 5 + sum(len(a) - 37 for a in answers[1:])  # the rest of the prompt once, then each


def test_a_shared_prefix_taken_whole_from_the_cache_leaves_only_the_continuations():
    cache = new_cache()
    prompt = tokens(1, 32)
    run(cache, [[*prompt, 900]])
    group = [prompt + tokens(600 + 20 * k, 9) for k in range(3)]
    plan = run(cache, group)
    assert plan.hit_tokens == 32 and len(plan.ids) == 27
    assert all(segment[2] == segment[3] for segment in plan.segments)  # no in-row prefix left


def test_equal_blocks_after_different_prefixes_are_not_confused():
    cache = new_cache()
    tail = tokens(300, 16)
    run(cache, [tokens(1, 16) + tail + [7]])
    other = run(cache, [tokens(100, 16) + tail + [7]])
    assert other.hit_tokens == 0


def test_a_failed_forward_leaves_nothing_readable():
    cache = new_cache()
    seq = tokens(1, 40)
    run(cache, [seq], fail=True)
    assert run(cache, [seq]).hit_tokens == 0
    assert run(cache, [seq]).hit_tokens == 32


def test_least_recently_used_blocks_go_first_and_a_full_cache_still_scores():
    cache = new_cache(blocks=4)
    a, b = tokens(1, 33), tokens(100, 33)
    run(cache, [a])
    run(cache, [b])
    assert run(cache, [b]).hit_tokens == 32  # b is the newest; a is still there too (4 blocks)
    c = tokens(200, 33)
    run(cache, [c])  # needs 2 blocks: a's, the least recently used, go
    assert run(cache, [a]).hit_tokens == 0
    assert run(cache, [c]).hit_tokens == 32
    many = [tokens(1000 * k, 70) for k in range(1, 4)]  # 12 blocks for a 4-block cache: stores what fits
    run(cache, many)
    assert sum(run(cache, [s]).hit_tokens for s in many) > 0


def test_a_cache_too_small_for_one_block_is_refused():
    with pytest.raises(ValueError, match="holds no block"):
        PrefixCache(layers=30, kv_heads=3, head_dim=64, dtype=torch.bfloat16, device="cpu", capacity_bytes=1000)
