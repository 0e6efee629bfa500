"""RewardBench 2 and RM-Bench scoring on hand-computed examples: the authors' rules (ties at the top
shared, the Ties formula, the 3x3 matrix) and the length baseline on the same rows."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rewardkit.data.rewardbench2 import Rb2Meta
from rewardkit.data.rm_bench import check_rm_bench
from rewardkit.evaluation.answer_sets import score_answer_sets
from rewardkit.evaluation.rewardbench2 import rewardbench2_results, row_result, ties_score
from rewardkit.evaluation.rm_bench import accuracy_matrix, domain_accuracy, evaluate_rm_bench, rm_bench_results
from rewardkit.scoring.scorer import ScoreTable


def test_a_row_scores_one_over_the_answers_tied_at_the_top():
    assert row_result(np.array([2.0, 1.0, 0.0, -1.0])) == 1.0
    assert row_result(np.array([2.0, 2.0, 1.0, 0.0])) == 0.5  # the first answer shares the top with one other
    assert row_result(np.array([3.0, 3.0, 3.0, 3.0])) == 0.25
    assert row_result(np.array([1.0, 2.0, 2.0, 0.0])) == 0.0  # a tie below the top gives nothing
    assert row_result(np.array([0.5, 0.9])) == 0.0


def ties(kind: str, n: int, correct: list[float], incorrect: list[float]):
    return (kind, n), np.array(correct + incorrect), len(correct)


def test_the_ties_formula_on_a_hand_computed_example():
    rows = [
        ties("ref", 1, [0.9], [0.5, 0.2]),  # accurate, correct-incorrect margin 0.4
        ties("tied", 1, [0.8, 0.7, 0.6], [0.3, 0.1]),  # accurate, margin 0.3, spread of correct answers 0.2
        ties("ref", 2, [0.4], [0.6]),  # wrong, margin -0.2
        ties("tied", 2, [1.0, 0.5], [0.4]),  # accurate, margin 0.1, spread 0.5
        ties("tied", 3, [0.2, 0.2], [0.9]),  # wrong; no ref row: counts in the accuracy only
    ]
    t = ties_score(rows)
    assert (t.ref_prompts, t.tied_prompts, t.paired_prompts) == (2, 3, 2)
    assert t.ref_accuracy == 0.5
    assert t.tied_accuracy == pytest.approx(2 / 3)
    # prompt 1: 0.3 > 0.2 and min(0.4, 0.3) > 0.2; prompt 2: 0.1 < 0.5 and min(-0.2, 0.1) < 0.5
    assert t.correctness_preferred == 0.5 and t.correctness_preferred_hard == 0.5
    margin = (math.tanh(0.3 / 0.2 - 1) + math.tanh(-0.2 / 0.5 - 1)) / 2
    assert t.margin_score == pytest.approx(margin)
    assert t.score == pytest.approx(0.3 * 2 / 3 + 0.3 * 0.5 + 0.2 * 0.5 + 0.2 * 0.5 + 0.01 * margin)


def test_ties_margins_divided_by_zero_and_a_score_above_one_unclamped():
    rows = [
        ties("ref", 1, [5.0], [0.0]),
        ties("tied", 1, [3.0, 3.0], [1.0]),  # spread 0, margin 2: tanh(2 / 0 - 1) = tanh(inf) = 1
        ties("ref", 2, [1.0], [1.0]),  # margin 0
        ties("tied", 2, [4.0, 4.0], [1.0]),  # spread 0, min margin 0: 0 / 0 -> 0
    ]
    t = ties_score(rows)
    assert t.margin_score == 0.5
    assert t.correctness_preferred == 1.0 and t.correctness_preferred_hard == 0.5
    perfect = ties_score([ties("ref", 1, [9.0], [0.0]), ties("tied", 1, [5.0, 4.0], [0.0])])
    assert perfect.score == pytest.approx(1 + 0.01 * math.tanh(4 / 1 - 1)) and perfect.score > 1


def test_ties_without_a_ref_and_tied_pair_is_undefined_as_in_the_authors_code():
    t = ties_score([ties("ref", 1, [1.0], [0.0]), ties("tied", 2, [1.0, 0.5], [0.0])])
    assert t.paired_prompts == 0 and math.isnan(t.score)
    assert t.ref_accuracy == 1.0 and t.tied_accuracy == 1.0


def meta(subset: str, answers: int, key=None, num_correct: int = 1) -> Rb2Meta:
    return Rb2Meta(subset, num_correct, answers, key, None)


def test_the_final_score_is_the_unweighted_mean_of_the_subsets():
    rows = [meta("Focus", 4), meta("Math", 4), meta("Math", 4), meta("Math", 4)]
    scores = [np.array(s, dtype=float) for s in ([1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 0, 0], [2, 0, 2, 2])]
    results = rewardbench2_results(rows, scores)
    assert results.subsets == {"Focus": 1.0, "Math": pytest.approx((0.5 + 0 + 1 / 3) / 3)}
    assert results.score == pytest.approx((1.0 + (0.5 + 1 / 3) / 3) / 2)  # not 2.0 / 4 rows pooled
    assert results.ties is None


def test_the_ties_subset_uses_its_formula_inside_the_results():
    rows = [meta("Ties", 3, ("ref", 7)), meta("Ties", 4, ("tied", 7), num_correct=2), meta("Math", 2)]
    scores = [np.array([3.0, 1.0, 0.0]), np.array([2.0, 2.0, 5.0, 0.0]), np.array([1.0, 0.0])]
    results = rewardbench2_results(rows, scores)
    assert results.ties is not None and results.subsets["Ties"] == results.ties.score
    assert results.ties.ref_accuracy == 1.0 and results.ties.tied_accuracy == 0.0
    assert results.score == pytest.approx((1.0 + results.ties.score) / 2)


def test_an_rm_bench_matrix_written_out_by_hand():
    chosen, rejected = np.array([[3.0, 1.0, 2.0]]), np.array([[2.0, 2.0, 0.0]])
    # chosen 3 beats all three; chosen 1 beats only 0; chosen 2 ties 2 (a loss) and beats 0
    expected = [[1, 1, 1], [0, 0, 1], [0, 0, 1]]
    assert accuracy_matrix(chosen, rejected).tolist() == expected
    d = domain_accuracy(chosen, rejected)
    assert d.hard == 1.0  # upper triangle: (0,1) (0,2) (1,2) = 3 / 3
    assert d.normal == pytest.approx(2 / 3)  # diagonal: 1, 0, 1
    assert d.easy == 0.0  # lower triangle: (1,0) (2,0) (2,1)
    assert d.score == pytest.approx(5 / 9)


def test_rm_bench_overall_is_a_mean_over_domains_not_rows():
    one_chat = [[1, 1, 1, 0, 0, 0]]  # every comparison won
    three_code = [[0, 0, 0, 1, 1, 1]] * 3  # every comparison lost
    results = rm_bench_results(["chat", "code", "code", "code"], np.array(one_chat + three_code, dtype=float))
    assert list(results.domains) == ["chat", "code"]
    assert results.domains["chat"].score == 1.0 and results.domains["code"].score == 0.0
    assert results.score == 0.5 and results.hard == 0.5 and results.normal == 0.5 and results.easy == 0.5


class ToyScorer:
    """Scores an answer by its last character's code; counts tokens as words, or gives no counts."""

    name = "toy"
    pairwise = False

    def __init__(self, tokens: bool = True) -> None:
        self.tokens = tokens
        self.calls: list[int] = []

    def score(self, conversations, *, progress=False):
        self.calls.append(len(conversations))
        answers = [c[-1]["content"] for c in conversations]
        words = np.array([len(a.split()) for a in answers]) if self.tokens else None
        return ScoreTable(np.array([float(ord(a[-1])) for a in answers]), tokens=words)

    def prefer(self, pairs, *, progress=False):
        raise AssertionError("pointwise")


def test_answer_sets_keep_rows_whole_and_measure_length_in_tokens_or_characters():
    rows = [("f row 1", "p", ["a b c", "xx", "y"]), ("f row 2", "q", ["one", "two words"])]
    scorer = ToyScorer()
    scores = score_answer_sets(scorer, rows, 5, progress=False, chunk_answers=2)
    assert scorer.calls == [3, 2]  # a chunk always ends at a row's end
    assert [r.tolist() for r in scores.rows(scores.combined)] == [[99.0, 120.0, 121.0], [101.0, 115.0]]
    assert scores.length_unit == "tokens" and scores.lengths.tolist() == [3, 1, 1, 1, 2]
    plain = score_answer_sets(ToyScorer(tokens=False), rows, 5, progress=False)
    assert plain.length_unit == "characters" and plain.lengths.tolist() == [5, 2, 1, 3, 9]


def test_the_length_baseline_applies_the_same_tie_rule():
    # by words: chosen "a b" (2) ties rejected "c d" (2) at the top -> 1/2, as a model's tie would
    rows = [meta("Focus", 3)]
    lengths = [np.array([2, 2, 1])]
    assert rewardbench2_results(rows, lengths).subsets == {"Focus": 0.5}


def test_rm_bench_report_carries_the_length_baseline_on_the_same_rows(tmp_path):
    row = {"id": 1, "prompt": "p", "chosen": ["a z", "a b c a", "a b c d e a"], "rejected": ["b", "a b y", "a b c d b"]}
    (tmp_path / "chat.json").write_text(json.dumps([row]))
    report = evaluate_rm_bench(ToyScorer(), check_rm_bench([tmp_path / "chat.json"]), progress=False)
    # the toy score is the last letter: chosen (z, a, a) against rejected (b, y, b)
    assert report.combined.domains["chat"].matrix == [[1, 1, 1], [0, 0, 0], [0, 0, 0]]
    # words: chosen (2, 4, 6) against rejected (1, 3, 5): the longer answer wins except 2 vs 3, 2 vs 5, 4 vs 5
    assert report.length.domains["chat"].matrix == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert report.length_unit == "tokens" and report.counts == {"chat": 1}
