"""The built-in model's training mix: the split by instruction, judged pairs, length balance."""

from __future__ import annotations

import math

import pytest

from rewardkit.training.mixture import (
    Candidate,
    Instruction,
    instructions_from_pool,
    judged_pairs,
    length_adjusted,
    length_balanced,
    length_slope,
    split_instructions,
)
from rewardkit.training.pairs import TrainingPair


def instruction(i: int, golds: list[float]) -> Instruction:
    return Instruction(
        f"instruction {i}",
        tuple(Candidate("x" * (10 + 7 * k) + f" answer {k}", g, f"gen{k}") for k, g in enumerate(golds)),
    )


def test_pool_rows_merge_identical_answers_keeping_the_first():
    rows = [
        {
            "instruction": "Say hi",
            "candidates": [
                {"text": "hi", "gold": 0.5, "generator": "ref (reference)"},
                {"text": "hello", "gold": 0.7, "generator": "a"},
                {"text": "hi", "gold": 0.52, "generator": "ref"},
            ],
        }
    ]
    (item,) = instructions_from_pool(rows)
    assert [(c.text, c.gold, c.generator) for c in item.candidates] == [
        ("hi", 0.5, "ref (reference)"),
        ("hello", 0.7, "a"),
    ]
    assert item.context == [{"role": "user", "content": "Say hi"}]


def test_the_split_is_by_instruction_and_stable():
    items = [instruction(i, [0.5, 0.2, 0.9]) for i in range(400)]
    train, test = split_instructions(items, 0.2)
    assert 50 < len(test) < 110 and len(train) + len(test) == 400
    assert not {i.instruction for i in train} & {i.instruction for i in test}
    _, again = split_instructions(list(reversed(items)), 0.2)
    assert {i.instruction for i in again} == {i.instruction for i in test}


def test_judged_pairs_compare_answers_through_the_reference():
    item = instruction(0, [0.5, 0.2, 0.9, 0.55])
    pairs = judged_pairs(item, picks=4, min_confidence=0.0)
    assert len(pairs) == 6
    gold = {c.text: c.gold for c in item.candidates}

    def logit(p: float) -> float:
        return math.log(p / (1 - p))

    for p in pairs:
        assert gold[p.chosen] > gold[p.rejected]
        assert p.p == pytest.approx(1 / (1 + math.exp(-(logit(gold[p.chosen]) - logit(gold[p.rejected])))))
        assert p.context == item.context
    # 0.5 vs 0.55 is a near coin flip: left out with a confidence floor
    confident = judged_pairs(item, picks=4, min_confidence=0.1)
    assert len(confident) == 5 and all(p.p >= 0.6 for p in confident)


def test_judged_pairs_draw_the_same_answers_for_the_same_seed():
    item = instruction(3, [0.5, 0.1, 0.3, 0.7, 0.9, 0.6])
    first = judged_pairs(item, picks=3, min_confidence=0.0, seed=1)
    assert first == judged_pairs(item, picks=3, min_confidence=0.0, seed=1)
    assert len(first) == 3
    assert any(judged_pairs(item, 3, 0.0, seed=s) != first for s in range(2, 8))


def test_length_balance_keeps_as_many_shorter_as_longer_preferred():
    ctx = [{"role": "user", "content": "q"}]
    longer = [TrainingPair(ctx, "long answer " * (2 + i), "short", p=0.9) for i in range(9)]
    shorter = [TrainingPair(ctx, "short", "long answer " * (2 + i), p=0.8) for i in range(3)]
    equal = [TrainingPair(ctx, "abc", "xyz", p=0.7)]
    kept = length_balanced([*longer, *shorter, *equal], seed=0)
    assert sum(len(p.chosen) > len(p.rejected) for p in kept) == 3
    assert sum(len(p.chosen) < len(p.rejected) for p in kept) == 3
    assert equal[0] in kept and all(p in kept for p in shorter)
    assert kept == length_balanced([*longer, *shorter, *equal], seed=0)


def test_the_length_slope_is_recovered_and_taken_out_of_the_labels():
    """Labels that length alone explains (p = sigmoid(0.8 * log ratio)) fit beta = 0.8, and after the
    adjustment they are coin flips, so a confidence floor drops them all."""
    ctx = [{"role": "user", "content": "q"}]
    pairs = []
    for long, short in [(40, 10), (30, 20), (90, 15), (25, 24), (60, 12)]:
        p = 1 / (1 + math.exp(-0.8 * math.log(long / short)))
        pairs.append(TrainingPair(ctx, "a" * long, "b" * short, p=p))
    assert length_slope(pairs) == pytest.approx(0.8, abs=1e-6)
    adjusted, beta = length_adjusted(pairs, min_confidence=0.01)
    assert beta == pytest.approx(0.8, abs=1e-6) and adjusted == []


def test_a_shorter_answer_that_length_cannot_explain_keeps_its_side():
    ctx = [{"role": "user", "content": "q"}]
    longer_wins = TrainingPair(ctx, "a" * 80, "b" * 20, p=0.7)  # less than length predicts at beta = 1
    shorter_wins = TrainingPair(ctx, "c" * 20, "d" * 80, p=0.7)
    adjusted, _ = length_adjusted([longer_wins, shorter_wins], beta=1.0)
    by_text = {p.chosen[0]: p for p in adjusted}
    assert set(by_text) == {"b", "c"}  # the long winner's label flips; the short winner's strengthens
    assert by_text["c"].p > 0.7
    assert by_text["b"].p == pytest.approx(1 - 1 / (1 + math.exp(-(math.log(0.7 / 0.3) - math.log(4)))))


def test_two_answers_clipped_at_the_same_end_make_no_pair():
    """Weak answers losing to the reference with P = 1e-4 and 1e-6 are not ranked against each other."""
    item = instruction(5, [1e-4, 1e-6, 0.3, 0.999, 0.9999])
    pairs = judged_pairs(item, picks=5, min_confidence=0.0)
    golds = {c.text: c.gold for c in item.candidates}
    assert len(pairs) == 10 - 2  # (1e-4, 1e-6) and (0.999, 0.9999) left out
    assert all(not (golds[p.chosen] <= 0.01 and golds[p.rejected] <= 0.01) for p in pairs)
    kept = judged_pairs(item, picks=5, min_confidence=0.0, drop_unlabeled=False)
    assert len(kept) == 10 and {p.chosen for p in kept} | {p.rejected for p in kept} == set(golds)
