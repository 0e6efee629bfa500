from __future__ import annotations

import json
import math
import random

import pytest

from rewardkit.selection.ranking import (
    METHODS,
    Match,
    Ranking,
    bradley_terry,
    knockout,
    plan,
    round_robin,
    run_plan,
    run_plan_async,
)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class Strengths:
    """Deterministic comparator p = sigmoid(s_i - s_j) that records every batch it is asked for."""

    def __init__(self, strengths):
        self.s = list(strengths)
        self.batches: list[list[tuple[int, int]]] = []

    def __call__(self, pairs):
        self.batches.append(list(pairs))
        return [sigmoid(self.s[i] - self.s[j]) for i, j in pairs]

    async def acall(self, pairs):
        return self(pairs)

    @property
    def comparisons(self) -> int:
        return sum(len(b) for b in self.batches)


def strengths(n: int, seed: int = 0) -> list[float]:
    return random.Random(seed * 100 + n).sample([0.37 * k - 1.0 for k in range(n)], n)


def constant(p: float):
    return lambda pairs: [p] * len(pairs)


def scripted(table: dict[tuple[int, int], float]):
    return lambda pairs: [table[pair] for pair in pairs]


# ------------------------------------------------------------------------------------------------------ knockout


@pytest.mark.parametrize("n", range(1, 10))
def test_knockout_is_linear_batched_and_finds_the_strongest(n):
    s = strengths(n)
    comp = Strengths(s)
    r = run_plan(knockout(n), comp)
    assert r.comparisons == comp.comparisons == n - 1 == len(r.matches)
    assert len(comp.batches) == math.ceil(math.log2(n))  # one comparator call per bracket level
    assert r.best == r.order[0] == max(range(n), key=s.__getitem__)
    assert sorted(r.order) == list(range(n))
    assert len(r.scores) == n and sum(r.scores) == n - 1
    assert r.scores[r.best] == max(r.scores)


def test_knockout_single_candidate_needs_no_comparator():
    def never(pairs):
        raise AssertionError("must not be called")

    for method in METHODS:
        r = run_plan(plan(method, 1), never)
        assert (r.method, r.order, r.scores, r.best, r.comparisons, r.matches) == (method, [0], [0.0], 0, 0, [])


def test_knockout_rounds_pair_neighbours_and_the_last_gets_a_bye():
    comp = Strengths([5.0, 0.0, 0.0, 4.0, 1.0])  # 0 beats 1, 3 beats 2, 4 has a bye twice, then 0 beats 4
    r = run_plan(knockout(5), comp)
    assert comp.batches == [[(0, 1), (2, 3)], [(0, 3)], [(0, 4)]]
    assert r.best == 0
    assert r.scores == [3.0, 0.0, 0.0, 1.0, 0.0]  # byes are not wins
    assert r.order[:2] == [0, 3]


def test_knockout_bye_winner_scores_only_played_matches():
    comp = Strengths([0.0, 1.0, 2.0])
    r = run_plan(knockout(3), comp)
    assert comp.batches == [[(0, 1)], [(1, 2)]]
    assert r.best == 2 and r.scores == [0.0, 1.0, 1.0]
    assert r.order == [2, 1, 0]  # 1 has a win, 0 has none


def test_knockout_exact_tie_goes_to_lower_index():
    r = run_plan(knockout(4), constant(0.5))
    assert [m.winner for m in r.matches] == [0, 2, 0]
    assert r.order == [0, 2, 1, 3]
    assert r.scores == [2.0, 0.0, 1.0, 0.0]


def test_knockout_losers_ordered_by_how_close_they_came():
    table = {(0, 1): 0.9, (2, 3): 0.4, (0, 3): 0.7}
    r = run_plan(knockout(4), scripted(table))
    # 3 won a match; 2 lost with p=0.4, 1 lost with p=0.1, so 2 ranks above 1.
    assert r.order == [0, 3, 2, 1]
    assert r.matches == [Match(0, 1, 0.9, 0), Match(2, 3, 0.4, 3), Match(0, 3, 0.7, 0)]


# --------------------------------------------------------------------------------------------------- round robin


@pytest.mark.parametrize("n", [2, 3, 6, 9])
def test_round_robin_one_round_recovers_strengths(n):
    s = strengths(n, seed=1)
    comp = Strengths(s)
    r = run_plan(round_robin(n, l2=1e-8), comp)
    assert len(comp.batches) == 1
    assert comp.batches[0] == [(i, j) for i in range(n) for j in range(i + 1, n)]
    assert r.comparisons == n * (n - 1) // 2 == len(r.matches)
    mean = sum(s) / n
    assert r.scores == pytest.approx([x - mean for x in s], abs=1e-4)
    assert r.order == sorted(range(n), key=lambda c: -s[c])
    assert r.best == r.order[0]


def test_round_robin_ties_go_to_lower_index():
    r = run_plan(round_robin(4), constant(0.5))
    assert r.order == [0, 1, 2, 3] and r.scores == [0.0] * 4
    assert all(m.winner == m.i for m in r.matches)


# ------------------------------------------------------------------------------------------------- Bradley-Terry


def test_bradley_terry_two_candidates_matches_hand_computation():
    s0, s1 = bradley_terry(2, [(0, 1, 0.75)], l2=1e-9)
    assert s0 - s1 == pytest.approx(math.log(3), abs=1e-6)
    assert s0 + s1 == pytest.approx(0.0, abs=1e-12)


def test_bradley_terry_ridge_solution_satisfies_stationarity():
    l2 = 0.5
    s0, s1 = bradley_terry(2, [(0, 1, 0.75)], l2=l2)
    assert 0.75 - sigmoid(s0 - s1) == pytest.approx(l2 * s0, abs=1e-12)  # gradient of the objective is zero


def test_bradley_terry_stays_finite_when_one_candidate_wins_everything():
    outcomes = [(0, 1, 1.0), (0, 2, 1.0), (2, 0, 0.0), (1, 2, 0.5)]
    scores = bradley_terry(3, outcomes)
    assert all(math.isfinite(x) for x in scores)
    assert scores[0] == max(scores) and scores[0] > scores[1] + 1
    assert sum(scores) == pytest.approx(0.0, abs=1e-9)
    r = run_plan(round_robin(4), constant(1.0))  # the lower index always wins: a strict hierarchy
    assert r.order == [0, 1, 2, 3] and all(math.isfinite(x) for x in r.scores)


def test_bradley_terry_is_order_invariant():
    outcomes = [(0, 1, 0.8), (1, 2, 0.6), (2, 0, 0.3), (0, 1, 0.55)]
    assert bradley_terry(3, outcomes) == pytest.approx(bradley_terry(3, outcomes[::-1]), abs=1e-12)


@pytest.mark.parametrize(
    ("outcome", "needle"),
    [((0, 1, 1.5), "(0, 1, 1.5)"), ((0, 3, 0.5), "(0, 3, 0.5)"), ((1, 1, 0.5), "(1, 1, 0.5)"),
     ((0, 1, float("nan")), "nan"), ((0, 1), "(0, 1)"), ((-1, 0, 0.5), "(-1, 0, 0.5)")],
)  # fmt: skip
def test_bradley_terry_rejects_bad_outcomes(outcome, needle):
    with pytest.raises(ValueError, match="outcome #1") as e:
        bradley_terry(3, [(0, 1, 0.5), outcome])
    assert needle in str(e.value)


@pytest.mark.parametrize("kwargs", [{"l2": 0.0}, {"l2": float("inf")}, {"tol": 0.0}, {"max_iter": 0}])
def test_bradley_terry_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        bradley_terry(2, [(0, 1, 0.5)], **kwargs)


# ---------------------------------------------------------------------------------------------- drivers and API


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n", [0, -3])
def test_no_candidates_is_rejected_eagerly(method, n):
    with pytest.raises(ValueError, match="at least 1 candidate"):
        plan(method, n)
    with pytest.raises(ValueError, match="at least 1 candidate"):
        bradley_terry(n, [])


def test_unknown_method_names_the_choices():
    with pytest.raises(ValueError, match="knockout, round_robin"):
        plan("swiss", 4)


@pytest.mark.anyio
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n", [1, 2, 5, 8])
async def test_async_driver_matches_sync(method, n):
    comp = Strengths(strengths(n, seed=2))
    sync = run_plan(plan(method, n), comp)
    asynchronous = await run_plan_async(plan(method, n), comp.acall)
    assert isinstance(asynchronous, Ranking)
    assert asynchronous == sync


BAD_OUTPUTS = [
    pytest.param(lambda pairs: [0.5] * (len(pairs) + 1), "3 probabilities for 2 pairs", id="too-long"),
    pytest.param(lambda pairs: [0.5] * (len(pairs) - 1), "1 probabilities for 2 pairs", id="too-short"),
    pytest.param(lambda pairs: [0.5, float("nan")], "nan", id="nan"),
    pytest.param(lambda pairs: [1.5, 0.5], "1.5", id="above-one"),
    pytest.param(lambda pairs: [0.5, -0.1], "-0.1", id="negative"),
    pytest.param(lambda pairs: [0.5, "0.5"], "'0.5'", id="string"),
    pytest.param(lambda pairs: None, "None", id="none"),
]


@pytest.mark.parametrize(("bad", "needle"), BAD_OUTPUTS)
def test_bad_comparator_output_is_rejected(bad, needle):
    with pytest.raises(ValueError, match="comparator returned") as e:
        run_plan(knockout(4), bad)
    assert needle in str(e.value)


@pytest.mark.anyio
@pytest.mark.parametrize(("bad", "needle"), BAD_OUTPUTS)
async def test_bad_comparator_output_is_rejected_async(bad, needle):
    async def compare(pairs):
        return bad(pairs)

    with pytest.raises(ValueError, match="comparator returned") as e:
        await run_plan_async(knockout(4), compare)
    assert needle in str(e.value)


def test_plan_can_be_driven_by_hand():
    p = knockout(3)
    assert next(p) == [(0, 1)]
    assert p.send([0.2]) == [(1, 2)]
    with pytest.raises(StopIteration) as done:
        p.send([0.6])
    assert done.value.value.order == [1, 2, 0]


def test_plan_checks_what_it_is_sent_even_without_a_driver():
    p = round_robin(3)
    next(p)
    with pytest.raises(ValueError, match="round_robin plan was sent 1 probabilities for 3 pairs"):
        p.send([0.5])


def test_as_dict_is_json_round_trippable():
    r = run_plan(knockout(3), Strengths([0.0, 1.0, 2.0]))
    d = json.loads(json.dumps(r.as_dict()))
    assert d == {
        "method": "knockout",
        "order": [2, 1, 0],
        "scores": [0.0, 1.0, 1.0],
        "best": 2,
        "comparisons": 2,
        "matches": [
            {"i": 0, "j": 1, "p_i_wins": sigmoid(-1.0), "winner": 1},
            {"i": 1, "j": 2, "p_i_wins": sigmoid(-1.0), "winner": 2},
        ],
    }
