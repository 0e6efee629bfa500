"""How sequences are laid out in one packed row: shared prefixes once, positions as if alone, each
reward read at its own sequence's last token (pure bookkeeping; the forwards are in integration)."""

from __future__ import annotations

from rewardkit.models.packing import MIN_SHARED, pack

PROMPT = list(range(100, 100 + 2 * MIN_SHARED))


def test_unrelated_sequences_are_laid_end_to_end_with_positions_from_zero():
    row = pack([[1, 2, 3], [4, 5]])
    assert row.ids == [1, 2, 3, 4, 5] and row.positions == [0, 1, 2, 0, 1]
    assert row.segments == [(0, 3, 0, 0), (3, 5, 0, 0)]
    assert row.reads == [2, 4]


def test_answers_to_one_prompt_share_it_once_and_keep_their_positions():
    answers = [[7, 8], [9], [7, 1, 1]]
    row = pack([PROMPT + a for a in answers])
    assert row.ids.count(PROMPT[0]) == 1 and len(row.ids) == len(PROMPT) + 6
    prefix = (0, len(PROMPT))
    for i, answer in enumerate(answers):
        end = row.reads[i] + 1
        assert row.ids[end - len(answer) : end] == answer
        assert row.positions[end - len(answer) : end] == list(range(len(PROMPT), len(PROMPT) + len(answer)))
        assert (end - len(answer), end, *prefix) in row.segments


def test_a_sequence_that_is_another_ones_prefix_or_a_duplicate_keeps_a_token_of_its_own():
    row = pack([PROMPT, [*PROMPT, 5, 6], PROMPT])
    assert len(row.ids) == len(PROMPT) - 1 + 1 + 3 + 1  # the prefix stops one token short of the shortest
    assert [row.ids[r] for r in row.reads] == [PROMPT[-1], 6, PROMPT[-1]]


def test_short_common_prefixes_are_not_shared():
    short = list(range(MIN_SHARED - 1))
    row = pack([[*short, 1], [*short, 2]])
    assert len(row.ids) == 2 * MIN_SHARED and all(seg[2] == seg[3] for seg in row.segments)


def test_a_long_shared_prompt_is_not_given_up_for_a_short_one():
    """Two answers to one long prompt and a third text that shares only a short opening with them."""
    other = [*PROMPT[:MIN_SHARED], 999, 998, 997]
    row = pack([[*PROMPT, 1], [*PROMPT, 2], other])
    assert len(row.ids) == len(PROMPT) + 2 + len(other)


def test_without_sharing_the_order_is_kept():
    row = pack([[*PROMPT, 1], [*PROMPT, 2]], share=False)
    assert row.ids == [*PROMPT, 1, *PROMPT, 2] and row.reads == [len(PROMPT), 2 * len(PROMPT) + 1]


def test_a_group_whose_shortest_member_leaves_too_little_to_share_is_laid_out_whole():
    short = PROMPT[:MIN_SHARED]
    row = pack([short, [*short, 1], [*short, 2]])
    assert all(seg[2] == seg[3] for seg in row.segments) and all(seg[0] < seg[1] for seg in row.segments)
    assert [row.ids[r] for r in row.reads] == [short[-1], 1, 2]
