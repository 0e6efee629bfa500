"""`evaluate_pairs` / `evaluate_mc` with real tiny models behind a Scorer, against the same model
scoring each pair or question on its own (an independent path through RewardModel)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import tiny_models
import tiny_pairwise

from rewardkit.config import ModelConfig
from rewardkit.data.records import MultipleChoice, PreferencePair
from rewardkit.errors import ModelOutputError
from rewardkit.evaluation.mc import evaluate_mc
from rewardkit.evaluation.pairs import evaluate_pairs
from rewardkit.models.loader import load_model
from rewardkit.scoring.model import RewardModel
from rewardkit.scoring.scorer import ScoreTable


class ModelScorer:
    """The smallest Scorer over one RewardModel: a single model is an ensemble of one."""

    def __init__(self, model: RewardModel, name: str) -> None:
        self.model, self.name = model, name
        self.pairwise = model.pairwise is not None
        self.calls = 0

    def score(self, conversations, *, progress=False):
        self.calls += 1
        scores = np.array(self.model.score(conversations))
        return ScoreTable(combined=scores, members={self.name: scores})

    def prefer(self, pairs, *, progress=False):
        self.calls += 1
        return np.array([self.model.compare([p.first, p.second], messages=p.context).probability for p in pairs])


class TwoMembers(ModelScorer):
    """An 'ensemble' whose second member is the first one negated: its accuracy mirrors the first's."""

    def score(self, conversations, *, progress=False):
        scores = np.array(self.model.score(conversations))
        return ScoreTable(combined=scores, members={"a": scores, "minus_a": -scores})


class NanScorer(ModelScorer):
    def score(self, conversations, *, progress=False):
        scores = np.zeros(len(conversations))
        scores[1] = np.nan
        return ScoreTable(combined=scores)


@pytest.fixture(scope="module")
def llama(checkpoint):
    return RewardModel(load_model(checkpoint("llama"), ModelConfig()), ModelConfig())


@pytest.fixture(scope="module")
def pairwise(checkpoint):
    config = ModelConfig(pairwise=True)
    return RewardModel(load_model(checkpoint("pairwise_lm"), config), config)


def real_pairs(n: int, seed: int = 0) -> list[PreferencePair]:
    """Pairs of real dialogue snippets, some labelled first-better, some second-better, in two subsets."""
    rng = random.Random(seed)
    texts = [t.strip()[:120] for t in tiny_models.hh_texts(60)]
    pairs = []
    for i in range(n):
        context = [{"role": "user", "content": rng.choice(texts)[:60]}]
        a, b = rng.sample(texts, 2)
        pairs.append(PreferencePair(context, a, b, float(i % 3 != 0), "even" if i % 2 == 0 else "odd", source=f"t:{i}"))
    return pairs


def direct_score(model: RewardModel, context, response: str) -> float:
    return model.score([[*context, {"role": "assistant", "content": response}]])[0]


def test_pair_accuracy_matches_scoring_each_pair_directly(llama):
    pairs = real_pairs(16)
    scorer = ModelScorer(llama, "llama")
    report = evaluate_pairs(scorer, pairs, progress=False)
    assert scorer.calls == 1  # every response in one call
    right, margins = {"even": [], "odd": []}, []
    for p in pairs:
        s1, s2 = direct_score(llama, p.context, p.first), direct_score(llama, p.context, p.second)
        good, bad = (s1, s2) if p.p_first == 1.0 else (s2, s1)
        right[p.subset].append(good > bad)
        margins.append(good - bad)
    overall = report.combined.overall
    assert overall.n == 16
    assert overall.accuracy == pytest.approx(np.mean(right["even"] + right["odd"]))
    assert overall.mean_margin == pytest.approx(np.mean(margins), abs=1e-4)
    for subset in ("even", "odd"):
        assert report.combined.subsets[subset].accuracy == pytest.approx(np.mean(right[subset]))
    assert report.members == {}  # one member equal to the combined score is not an ensemble
    assert report.combined.rewardbench is None and not report.soft_labels


def test_identical_responses_tie_and_count_as_wrong(llama):
    context = [{"role": "user", "content": "How do I fix a flat tyre?"}]
    pair = PreferencePair(context, "Patch the tube.", "Patch the tube.", 1.0, "tie", source="t:1")
    report = evaluate_pairs(ModelScorer(llama, "llama"), [pair], progress=False)
    assert report.combined.overall.ties == 1 and report.combined.overall.accuracy == 0.0


def test_ensemble_members_are_reported_next_to_the_combined_score(llama):
    pairs = real_pairs(12, seed=1)
    report = evaluate_pairs(TwoMembers(llama, "ens"), pairs, progress=False)
    assert set(report.members) == {"a", "minus_a"}
    acc = report.combined.overall.accuracy
    assert report.members["a"].overall.accuracy == pytest.approx(acc)
    assert report.members["minus_a"].overall.accuracy == pytest.approx(1 - acc)  # no ties in real text


def test_a_non_finite_score_names_the_item(llama):
    with pytest.raises(ModelOutputError, match="t:1: combined score is nan"):
        evaluate_pairs(NanScorer(llama, "nan"), real_pairs(3), progress=False)


def test_pairwise_model_judges_each_pair_with_prefer(pairwise):
    rng = random.Random(5)
    texts = tiny_models.hh_texts(200)[150:]
    pairs = []
    for i in range(8):
        context = [{"role": "user", "content": tiny_pairwise.random_context(rng, texts)}]
        good, bad = tiny_pairwise.good_response(rng), tiny_pairwise.bad_response(rng)
        first, second, p = (good, bad, 1.0) if i % 2 == 0 else (bad, good, 0.0)
        pairs.append(PreferencePair(context, first, second, p, "words", source=f"t:{i}"))
    scorer = ModelScorer(pairwise, "pairwise")
    report = evaluate_pairs(scorer, pairs, progress=False)
    assert scorer.calls == 1 and report.pairwise
    direct = [pairwise.compare([x.first, x.second], messages=x.context).probability for x in pairs]
    expected = np.mean([(q > 0.5) == (x.p_first == 1.0) for q, x in zip(direct, pairs)])
    assert report.combined.overall.accuracy == pytest.approx(expected)
    assert expected >= 7 / 8  # the tiny model was trained to prefer the good words
    # margin = P(favoured better) - P(other better) = 2 P(favoured better) - 1
    favoured = [q if x.p_first == 1.0 else 1 - q for q, x in zip(direct, pairs)]
    assert report.combined.overall.mean_margin == pytest.approx(np.mean([2 * f - 1 for f in favoured]), abs=1e-5)
    same = PreferencePair(pairs[0].context, "thanks", "thanks", 1.0, "tie", source="t:same")
    assert evaluate_pairs(scorer, [same], progress=False).combined.overall.ties == 1


def test_multiple_choice_ranks_match_scoring_each_choice_directly(llama):
    rng = random.Random(2)
    texts = [t.strip()[:100] for t in tiny_models.hh_texts(40)]
    questions = []
    for i in range(10):
        correct, *incorrect = rng.sample(texts, rng.randint(2, 5))
        context = [{"role": "user", "content": f"Question {i}?"}]
        questions.append(MultipleChoice(context, correct, incorrect, subset=f"s{i % 2}", source=f"q:{i}"))
    scorer = ModelScorer(llama, "llama")
    report = evaluate_mc(scorer, questions, progress=False)
    assert scorer.calls == 1
    ranks, gaps = [], []
    for q in questions:
        good = direct_score(llama, q.context, q.correct)
        bad = [direct_score(llama, q.context, a) for a in q.incorrect]
        ranks.append(1 + sum(b >= good for b in bad))
        gaps.append(max(0.0, max(bad) - good))
    m = report.combined.overall
    assert m.n == 10 and m.mean_rank == pytest.approx(np.mean(ranks))
    assert m.top1 == pytest.approx(np.mean([r == 1 for r in ranks]))
    assert m.mean_gap == pytest.approx(np.mean(gaps), abs=1e-4)
    assert m.chance_top1 == pytest.approx(np.mean([1 / (1 + len(q.incorrect)) for q in questions]))
    assert set(report.combined.subsets) == {"s0", "s1"} and report.members == {}


def test_multiple_choice_with_a_pairwise_model(pairwise):
    rng = random.Random(9)
    texts = tiny_models.hh_texts(200)[150:]
    questions = []
    for i in range(4):
        context = [{"role": "user", "content": tiny_pairwise.random_context(rng, texts)}]
        bad = list({tiny_pairwise.bad_response(rng) for _ in range(3)})
        questions.append(MultipleChoice(context, tiny_pairwise.good_response(rng), bad, "words", source=f"q:{i}"))
    report = evaluate_mc(ModelScorer(pairwise, "pairwise"), questions, progress=False)
    direct = [
        [pairwise.compare([q.correct, b], messages=q.context).probability for b in q.incorrect] for q in questions
    ]
    assert report.combined.overall.top1 == pytest.approx(np.mean([all(p > 0.5 for p in ps) for ps in direct]))
    assert report.combined.overall.top1 >= 0.75
