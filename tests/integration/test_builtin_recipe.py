"""The built-in model's recipe on a tiny real checkpoint: features equal what serving computes, heads
are measured on cached features exactly as `rewardkit eval` measures a served model, and the
recipe's data split keeps held-out instructions out of training (on the real samples in tests/data)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from rewardkit import RewardModel
from rewardkit.evaluation.mc import evaluate_mc
from rewardkit.evaluation.pairs import evaluate_pairs
from rewardkit.scoring.scorer import PairToJudge
from rewardkit.scoring.scorers import LocalScorer
from rewardkit.training.builtin_recipe import (
    CONTROLLED,
    LENGTH_CONTROLS,
    SETTINGS,
    alpaca_reference_pairs,
    alpaca_training_pairs,
    choose_length_control,
    compare_length_controls,
    evaluate_heads,
    feature_sets,
    hh_pairs,
    read_recipe_data,
    train_recipe_head,
    validation_split,
)
from rewardkit.training.feature_scorers import HeadScorer, LengthScorer
from rewardkit.training.features import FeatureBank, pooled_features

DATA = Path(__file__).resolve().parents[1] / "data"
PROMPT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour of the sky."}]


def answered(context, text):
    return [*context, {"role": "assistant", "content": text}]


CONVERSATIONS = [answered(PROMPT, t) for t in ["Blue.", "It is blue on a clear day, " * 5, "Grey when it rains."]]
CONVERSATIONS += [answered([{"role": "user", "content": "Hi"}], "Hello! " * k) for k in (1, 9)]


@pytest.fixture(scope="module")
def data():
    return read_recipe_data(DATA)


@pytest.fixture(scope="module")
def small(data):
    """A few items of every set, so a tiny model can compute all of their features here."""
    return replace(
        data,
        hh_train=data.hh_train[:12],
        hh_test=data.hh_test[:6],
        alpaca_train=data.alpaca_train[:3],
        alpaca_test_rows=data.alpaca_test_rows[:2],
        llmbar=data.llmbar[:5],
        truthfulqa=data.truthfulqa[:8],
    )


@pytest.fixture(scope="module")
def served(llama_dir):
    return RewardModel.load(llama_dir, dtype="float32")


def head_weight(served):
    return served.model.head.weight.detach()[0]


def test_packed_and_padded_features_give_the_served_rewards(llama_dir, served):
    padded = RewardModel.load(llama_dir, dtype="float32", packing=False)
    assert served.info.packing.startswith("on")
    items = served.templater.encode_conversations(CONVERSATIONS)
    packed_features = pooled_features(served.model, items)
    padded_features = pooled_features(padded.model, items)
    torch.testing.assert_close(packed_features, padded_features, atol=1e-5, rtol=1e-4)
    rewards = (packed_features @ head_weight(served)).tolist()
    for conversation, reward in zip(CONVERSATIONS, rewards, strict=True):
        assert reward == pytest.approx(served.score([conversation])[0], abs=1e-4)  # alone, unpadded


class NoForward:
    """A model with no forward: a bank built on it can only answer from the cache."""

    def __init__(self, device):
        self.device, self.pad_id, self.packed = device, 0, False

    def pooled(self, *args):
        raise AssertionError("computed a feature the cache holds")


def test_the_bank_keeps_one_row_per_distinct_conversation_and_resumes_from_its_cache(served, tmp_path):
    bank = FeatureBank(served.model, served.templater, cache_dir=tmp_path, model_id="tiny", progress=False)
    bank.add([*CONVERSATIONS, *CONVERSATIONS[:2]])
    assert len(bank) == len(CONVERSATIONS)
    again = FeatureBank(
        NoForward(served.model.device), served.templater, cache_dir=tmp_path, model_id="tiny", progress=False
    )
    again.add(CONVERSATIONS)
    torch.testing.assert_close(again.features(CONVERSATIONS), bank.features(CONVERSATIONS), atol=0, rtol=0)
    with pytest.raises(AssertionError, match="the cache holds"):  # another model id: not in the cache
        FeatureBank(
            NoForward(served.model.device), served.templater, cache_dir=tmp_path, model_id="other", progress=False
        ).add(CONVERSATIONS)
    with pytest.raises(KeyError, match="add them first"):
        bank.features([answered(PROMPT, "Green?")])


def test_head_scorer_measures_a_head_as_rewardkit_eval_measures_the_served_model(served, small):
    pairs = [*hh_pairs(small.hh_test), *small.llmbar]
    bank = FeatureBank(served.model, served.templater, progress=False)
    bank.add([answered(p.context, t) for p in pairs for t in (p.first, p.second)])
    bank.add([answered(q.context, c) for q in small.truthfulqa for c in q.choices])
    weight = head_weight(served)
    scorer = HeadScorer(bank, {"head": weight, "negated": -weight}, "head")
    on_features = evaluate_pairs(scorer, pairs, progress=False)
    on_model = evaluate_pairs(LocalScorer(served, "served"), pairs, progress=False)
    assert on_features.combined.overall.accuracy == pytest.approx(on_model.combined.overall.accuracy)
    assert on_features.combined.overall.mean_margin == pytest.approx(on_model.combined.overall.mean_margin, abs=1e-3)
    negated = on_features.members["negated"].overall
    assert negated.accuracy == pytest.approx(1 - on_features.combined.overall.accuracy)  # no ties here
    mc_features, mc_model = (
        evaluate_mc(scorer, small.truthfulqa),
        evaluate_mc(LocalScorer(served, "served"), small.truthfulqa),
    )
    assert mc_features.combined.overall.top1 == mc_model.combined.overall.top1
    assert mc_features.combined.overall.mean_rank == mc_model.combined.overall.mean_rank
    lengths = evaluate_pairs(LengthScorer(), pairs, progress=False).combined.overall
    by_hand = np.mean([(len(p.first) > len(p.second)) == (p.p_first > 0.5) for p in pairs])
    assert lengths.accuracy == pytest.approx(by_hand)


def test_feature_scorers_compare_two_responses_as_the_served_model_does(served):
    bank = FeatureBank(served.model, served.templater, progress=False)
    bank.add(CONVERSATIONS[:3])
    texts = [c[-1]["content"] for c in CONVERSATIONS[:3]]
    asked = [PairToJudge(PROMPT, texts[0], texts[1]), PairToJudge(PROMPT, texts[2], texts[0])]
    on_features = HeadScorer(bank, {"head": head_weight(served)}, "head").prefer(asked)
    served_compare = [served.compare([p.first, p.second], messages=PROMPT).probability for p in asked]
    assert on_features == pytest.approx(served_compare, abs=1e-4)
    same = PairToJudge(PROMPT, "abc", "xyz")
    # "Blue." is shorter than the long answer and than "Grey when it rains."; equal lengths are a coin flip
    assert LengthScorer().prefer([*asked, same]).tolist() == pytest.approx([0.0, 1.0, 0.5], abs=1e-5)


def test_the_recipe_trains_and_reports_every_figure_side_by_side(served, small, tmp_path):
    bank = FeatureBank(served.model, served.templater, progress=False)
    for _, conversations in feature_sets(small):
        bank.add(conversations)
    trained = train_recipe_head(bank, small, tmp_path / "state.pt")
    assert trained.pairs["hh_rlhf"] == 12 and trained.pairs["alpaca_eval"] == len(alpaca_training_pairs(small))
    assert trained.pairs["truthfulqa"] == sum(len(q.incorrect) for q in small.truthfulqa_train) > 0
    assert trained.losses[-1] < trained.losses[0]
    figures = evaluate_heads(bank, {"new": trained.weight, "old": head_weight(served)}, "new", small)
    for key in ("hh_rlhf_harmless_held_out", "alpaca_eval_held_out_pairs", "llmbar_natural"):
        assert set(figures[key]) == {"new", "old", "length"}
        assert all(0.0 <= f["accuracy"] <= 1.0 for f in figures[key].values())
    assert figures["hh_rlhf_harmless_held_out"]["new"]["n"] == 6
    assert figures["alpaca_eval_held_out_pairs"]["new"]["n"] == len(alpaca_reference_pairs(small.alpaca_test_rows))
    assert set(figures["truthfulqa_mc"]) == {"new", "old", "length"}
    bon = figures["alpaca_eval_held_out_best_of_n"]
    assert bon["instructions"] == 2 and set(bon["curves"]) == {"new", "old", "length"}
    assert [p["n"] for p in bon["curves"]["new"]] == [1, 2, 4, 8, 13]  # every generator + the reference
    # at n = 1 the pick is a uniform draw, whatever the scorer
    assert bon["curves"]["new"][0]["gold_score"] == pytest.approx(bon["curves"]["length"][0]["gold_score"])


def test_the_length_control_is_chosen_on_a_validation_split_of_the_training_data(served, data):
    fit, validation = validation_split(data)
    assert not {p.key() for p in fit.hh_train} & {p.key() for p in validation.hh_train}
    assert len(fit.hh_train) + len(validation.hh_train) == len(data.hh_train)
    assert {i.instruction for i in validation.alpaca_train} <= {i.instruction for i in data.alpaca_train}
    assert 0 < len(validation.alpaca_train) < len(fit.alpaca_train)
    assert not {i.instruction for i in validation.alpaca_train} & {i.instruction for i in fit.alpaca_train}
    small = replace(
        data, hh_train=data.hh_train[:40], alpaca_train=data.alpaca_train[:40], truthfulqa=data.truthfulqa[:6]
    )
    bank = FeatureBank(served.model, served.templater, progress=False)
    bank.add(dict(feature_sets(small))["hh train"])
    bank.add(dict(feature_sets(small))["alpaca train"])
    bank.add(dict(feature_sets(small))["truthfulqa"])
    comparison = compare_length_controls(bank, small)
    assert set(comparison) == set(LENGTH_CONTROLS)
    for figures in comparison.values():
        assert all(0.0 <= figures[k] <= 1.0 for k in ("hh_rlhf", "alpaca_eval", "alpaca_eval_preferred_shorter"))
    best = choose_length_control(comparison)

    def mean(control):
        figures = comparison[control]
        return figures["hh_rlhf"] + figures["alpaca_eval"] + figures["alpaca_eval_preferred_shorter"]

    assert best in CONTROLLED  # a head without length control is never shipped
    assert all(mean(best) >= mean(control) for control in CONTROLLED)


def test_held_out_instructions_and_pairs_are_never_trained_on(data):
    train_instructions = {i.instruction for i in data.alpaca_train}
    assert not train_instructions & {i.instruction for i in data.alpaca_test}
    # the samples hold 3 instructions drawn from the held-out split and 1 that has a quirk (tests/data/README.md)
    assert len(data.alpaca_test) == 4 and 0.15 < len(data.hh_test) / (len(data.hh_train) + len(data.hh_test)) < 0.3
    assert {r["instruction"] for r in data.alpaca_test_rows} == {i.instruction for i in data.alpaca_test}
    questions = [{q.context[-1]["content"] for q in half} for half in (data.truthfulqa_train, data.truthfulqa_test)]
    assert not questions[0] & questions[1] and 0.35 < len(questions[1]) / len(data.truthfulqa) < 0.65
    pairs = alpaca_reference_pairs(data.alpaca_test_rows)
    # the reference against each of the 11 other generators, less those that wrote the reference's own text
    assert all(p.first != p.second for p in pairs) and 9 * len(data.alpaca_test) < len(pairs) < 11 * len(
        data.alpaca_test
    )
    assert not {p.key() for p in data.hh_train} & {p.key() for p in data.hh_test}
    raw = alpaca_training_pairs(data, {**SETTINGS, "alpaca_length_control": "none"})
    balanced = alpaca_training_pairs(data, {**SETTINGS, "alpaca_length_control": "balance"})
    adjusted = alpaca_training_pairs(data, SETTINGS)
    for pairs in (raw, balanced, adjusted):
        assert {p.context[0]["content"] for p in pairs} <= train_instructions
        assert all(0.55 <= p.p < 1.0 for p in pairs)

    def shorter_share(pairs):
        return sum(len(p.chosen) < len(p.rejected) for p in pairs) / len(pairs)

    assert sum(len(p.chosen) < len(p.rejected) for p in balanced) == sum(
        len(p.chosen) > len(p.rejected) for p in balanced
    )
    assert shorter_share(adjusted) > shorter_share(raw)  # length's share taken out of the labels
    assert len(adjusted) > len(balanced)  # and no pair thrown away for balance
    with pytest.raises(ValueError, match="alpaca_length_control"):
        alpaca_training_pairs(data, {**SETTINGS, "alpaca_length_control": "ignore"})
    names = [name for name, _ in feature_sets(data)]
    assert names.index("hh held-out") < names.index("hh train")  # evaluation sets are computed first
