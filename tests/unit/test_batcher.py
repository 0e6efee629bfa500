from __future__ import annotations

import threading

import pytest

from rewardkit.engine.batcher import Batcher, Pending, plan_batches, prefix_blocks
from rewardkit.errors import QueueFullError, TooManyItemsError


def make(max_tokens=1000, max_size=8, wait=0.0, queue=100, ratio=0.2, lookahead=None) -> Batcher:
    return Batcher(
        max_batch_tokens=max_tokens,
        max_batch_size=max_size,
        max_wait_s=wait,
        max_queue=queue,
        max_padding_ratio=ratio,
        max_lookahead=lookahead,
    )


def lengths(batch) -> list[int]:
    return [p.length for p in batch]


def test_plan_batches_covers_everything_under_budget():
    lens = [5, 100, 7, 50, 51, 3, 99, 1]
    plan = plan_batches(lens, max_batch_tokens=120, max_batch_size=3)
    assert sorted(i for b in plan for i in b) == list(range(len(lens)))
    for batch in plan:
        assert len(batch) <= 3
        assert max(lens[i] for i in batch) * len(batch) <= 120 or len(batch) == 1


def test_oldest_item_always_leads_the_next_batch():
    b = make()
    b.put([Pending(length=n, payload=n) for n in (40, 10, 11, 41, 39)])
    first = b.next_batch(timeout=0)
    assert first[0].payload == 40
    assert lengths(first) == [40, 41, 39]  # compatible lengths, in arrival order
    assert lengths(b.next_batch(timeout=0)) == [10, 11]


def test_budget_and_size_limits_hold():
    b = make(max_tokens=100, max_size=3, ratio=10.0)
    b.put([Pending(length=30, payload=i) for i in range(10)])
    batch = b.next_batch(timeout=0)
    assert len(batch) == 3 and max(lengths(batch)) * len(batch) <= 100


def test_padding_ratio_keeps_dissimilar_lengths_apart():
    b = make(ratio=0.1)
    b.put([Pending(length=100, payload="long"), Pending(length=10, payload="short")])
    assert [p.payload for p in b.next_batch(timeout=0)] == ["long"]
    assert [p.payload for p in b.next_batch(timeout=0)] == ["short"]


def test_an_item_longer_than_the_budget_still_runs_alone():
    b = make(max_tokens=50)
    b.put([Pending(length=500, payload="huge")])
    assert [p.payload for p in b.next_batch(timeout=0)] == ["huge"]


def test_full_queue_refuses_the_whole_request():
    b = make(queue=3)
    b.put([Pending(length=1, payload=i) for i in range(2)])
    with pytest.raises(QueueFullError) as info:
        b.put([Pending(length=1, payload=i) for i in range(2)])
    assert info.value.retry_after > 0
    assert b.depth == 2


def test_cancelled_items_are_skipped():
    b = make()
    gone = Pending(length=5, payload="gone", is_cancelled=lambda: True)
    b.put([gone, Pending(length=5, payload="kept")])
    assert [p.payload for p in b.next_batch(timeout=0)] == ["kept"]
    assert b.depth == 0


def test_waits_for_more_items_then_batches_them_together():
    b = make(wait=5.0, max_size=2)
    b.put([Pending(length=5, payload="a")])
    threading.Timer(0.05, lambda: b.put([Pending(length=5, payload="b")])).start()
    assert sorted(p.payload for p in b.next_batch(timeout=10)) == ["a", "b"]


def test_close_returns_what_was_waiting_and_refuses_more():
    b = make()
    b.put([Pending(length=1, payload=1)])
    assert [p.payload for p in b.close()] == [1]
    assert b.next_batch(timeout=0) == []
    with pytest.raises(QueueFullError):
        b.put([Pending(length=1, payload=2)])


def test_a_request_larger_than_the_queue_is_refused_for_good():
    with pytest.raises(TooManyItemsError, match="split it"):
        make(queue=3).put([Pending(length=1, payload=i) for i in range(4)])


def test_compatible_items_join_in_arrival_order_not_by_closeness():
    b = make(max_size=2, ratio=0.2)
    b.put(
        [Pending(length=100, payload="head"), Pending(length=90, payload="older"), Pending(length=100, payload="newer")]
    )
    assert [p.payload for p in b.next_batch(timeout=0)] == ["head", "older"]


def test_companions_come_only_from_the_lookahead_requests():
    b = make(lookahead=4)
    for n in (50, 10, 11, 50, 50):
        b.put([Pending(length=n, payload=n)])
    assert len(b.next_batch(timeout=0)) == 2  # the 5th request is not among the 4 oldest


def test_the_lookahead_counts_requests_not_items():
    b = make(lookahead=2, max_size=64)
    b.put([Pending(length=50, payload="head")])
    b.put([Pending(length=n, payload=n) for n in (10, 11, 12, 50, 50)])  # one request
    b.put([Pending(length=50, payload="third request")])
    assert [p.payload for p in b.next_batch(timeout=0)] == ["head", 50, 50]


def packed_batcher(max_tokens: int) -> Batcher:
    return Batcher(
        max_batch_tokens=max_tokens,
        max_batch_size=64,
        max_wait_s=0.0,
        max_queue=100,
        max_padding_ratio=0.0,
        packed=True,
    )


def test_packed_batches_count_real_tokens_and_ignore_the_padding_ratio():
    b = packed_batcher(1000)
    b.put([Pending(length=n, payload=n) for n in (900, 10, 90, 5)])
    assert lengths(b.next_batch(timeout=0)) == [900, 10, 90]  # 1,000 real tokens, whatever the padding
    assert lengths(b.next_batch(timeout=0)) == [5]


def test_answers_to_one_prompt_cost_the_packed_budget_their_prompt_once():
    """Eight answers of 300 tokens sharing a 256-token prompt compute 256 + 8 x 44 tokens, so they
    fit a 1,000-token budget together (as separate requests, the way GRPO sends them)."""
    prompt = list(range(1000, 1256))
    answers = [[*prompt, *range(i * 100, i * 100 + 44)] for i in range(8)]
    b = packed_batcher(1000)
    for ids in answers:
        b.put([Pending(length=len(ids), payload=ids, prefix=prefix_blocks(ids))])
    assert len(b.next_batch(timeout=0)) == 8
    unrelated = packed_batcher(1000)
    for i, ids in enumerate(answers):
        other = [i * 7919 + j for j in range(len(ids))]
        unrelated.put([Pending(length=len(other), payload=other, prefix=prefix_blocks(other))])
    assert len(unrelated.next_batch(timeout=0)) == 3  # nothing shared: 3 x 300 tokens


def test_prefix_blocks_leave_each_sequence_a_token_of_its_own():
    assert [n for n, _ in prefix_blocks(list(range(64)))] == [16, 32]
    assert [n for n, _ in prefix_blocks(list(range(65)))] == [16, 32, 64]
    assert prefix_blocks(list(range(16))) == ()


def test_packed_plans_keep_sequences_that_share_a_prompt_together():
    prompts = [[7] * 20, [9] * 20]
    contents = [[*prompts[i % 2], i] for i in range(8)]  # interleaved: A B A B ...
    plan = plan_batches([21] * 8, max_batch_tokens=90, max_batch_size=8, packed=True, contents=contents)
    assert [sorted(b) for b in plan] == [[0, 2, 4, 6], [1, 3, 5, 7]]
    padded = plan_batches([21] * 8, max_batch_tokens=90, max_batch_size=8)
    assert len(padded) == 2
