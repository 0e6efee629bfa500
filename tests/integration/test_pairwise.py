"""Pairwise preference models (RLHFlow style): both orders averaged, tournaments, against a plain
transformers forward on one unpadded sequence per order."""

from __future__ import annotations

import math
import random

import pytest
import tiny_models
import tiny_pairwise

from rewardkit import RewardModel
from rewardkit.errors import InvalidInputError, ModelLoadError

TOL = 1e-4


@pytest.fixture(scope="module")
def pairwise(checkpoint):
    return RewardModel.load(checkpoint("pairwise_lm"), pairwise=True)


def contexts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    texts = tiny_models.hh_texts(200)[150:]
    return [tiny_pairwise.random_context(rng, texts) for _ in range(n)]


def test_a_causal_lm_without_pairwise_flag_is_refused_with_a_hint(checkpoint):
    with pytest.raises(ModelLoadError, match="--pairwise"):
        RewardModel.load(checkpoint("pairwise_lm"))


def test_compare_averages_both_orders_and_matches_the_reference(pairwise, checkpoint):
    path = checkpoint("pairwise_lm")
    rng = random.Random(0)
    for context in contexts(4):
        good, bad = tiny_pairwise.good_response(rng), tiny_pairwise.bad_response(rng)
        result = pairwise.compare([good, bad], prompt=context)
        rendered = tiny_pairwise.rlhflow_context([context])
        p_ab = tiny_pairwise.reference_prob_a(path, rendered, good, bad)
        p_ba = tiny_pairwise.reference_prob_a(path, rendered, bad, good)
        assert result.orders == pytest.approx((p_ab, p_ba), abs=TOL)
        assert result.probability == pytest.approx((p_ab + 1 - p_ba) / 2, abs=TOL)
        assert result.probability == pytest.approx(
            tiny_pairwise.reference_preference(path, rendered, good, bad), abs=TOL
        )
        assert result.winner == 0 and result.probability > 0.9
        # Averaging both orders makes the comparison exactly antisymmetric, whatever the position bias.
        swapped = pairwise.compare([bad, good], prompt=context)
        assert swapped.probability == pytest.approx(1 - result.probability, abs=1e-6)
        assert swapped.winner == 1


def test_temperature_and_messages_context(checkpoint):
    path = checkpoint("pairwise_lm")
    model = RewardModel.load(path, pairwise=True, pairwise_temperature=2.0)
    assert model.info.pairwise["temperature"] == 2.0
    messages = [
        {"role": "user", "content": "hi there"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "fix my bike"},
    ]
    result = model.compare(["thanks helpful", "rude"], messages=messages)
    context = tiny_pairwise.rlhflow_context(["hi there", "hello", "fix my bike"])
    expected = tiny_pairwise.reference_preference(path, context, "thanks helpful", "rude", temperature=2.0)
    assert result.probability == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("method", ["knockout", "round_robin"])
def test_tournaments_put_the_good_response_first(pairwise, method):
    rng = random.Random(3)
    for context in contexts(3, seed=11):
        candidates = [tiny_pairwise.bad_response(rng) for _ in range(5)]
        best = rng.randrange(6)
        candidates.insert(best, tiny_pairwise.good_response(rng))
        ranking = pairwise.rank(candidates, prompt=context, method=method)
        assert ranking.best == best and ranking.order[0] == best
        assert ranking.comparisons == (5 if method == "knockout" else 15)


def test_round_robin_scores_follow_the_averaged_comparisons(pairwise):
    context = contexts(1)[0]
    candidates = ["helpful", "wrong", "thanks correct"]
    ranking = pairwise.rank(candidates, prompt=context, method="round_robin")
    for match in ranking.matches:
        direct = pairwise.compare([candidates[match.i], candidates[match.j]], prompt=context)
        assert match.p_i_wins == pytest.approx(direct.probability, abs=1e-6)
    assert ranking.scores[1] == min(ranking.scores)


def test_pointwise_scoring_of_a_pairwise_model_points_to_compare(pairwise):
    with pytest.raises(InvalidInputError, match="/compare"):
        pairwise.score(["a text"])


def test_answer_tokens_must_be_single_tokens(checkpoint):
    with pytest.raises(ModelLoadError, match="single-token"):
        RewardModel.load(checkpoint("pairwise_lm"), pairwise=True, pairwise_tokens="Alpha response,B")


def test_long_context_loses_its_start_not_the_responses(checkpoint):
    path = checkpoint("pairwise_lm")
    model = RewardModel.load(path, pairwise=True, max_length=60)
    long_context = " ".join(tiny_models.hh_texts(3))
    result = model.compare(["thanks", "rude"], prompt=long_context)
    assert result.winner == 0
    with pytest.raises(InvalidInputError, match="responses"):
        model.compare(["thanks " * 80, "rude"], prompt="hi")


def test_pointwise_models_compare_and_rank_by_reward(checkpoint):
    model = RewardModel.load(checkpoint("llama"))
    candidates = ["Sure, here is how.", "No.", "I cannot help with that, sorry."]
    scores = model.score(
        [[{"role": "user", "content": "help?"}, {"role": "assistant", "content": c}] for c in candidates]
    )
    ranking = model.rank(candidates, prompt="help?")
    assert ranking.method == "scores" and ranking.scores == pytest.approx(scores)
    assert ranking.best == max(range(3), key=lambda i: scores[i])
    result = model.compare(candidates[:2], prompt="help?")
    assert result.probability == pytest.approx(1 / (1 + math.exp(scores[1] - scores[0])), abs=1e-6)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"pairwise_template": '{"score": 1} {context} {response_a} {response_b}'}, "cannot be filled"),
        ({"pairwise_template": "{{context}} {response_a} {response_b}"}, "never inserts context"),
        ({"normalize": True}, "probability"),
        ({"pairwise_temperature": 0.0}, "positive"),
    ],
)
def test_bad_pairwise_settings_are_refused_at_load(checkpoint, options, match):
    with pytest.raises(ModelLoadError, match=match):
        RewardModel.load(checkpoint("pairwise_lm"), pairwise=True, **options)


def test_user_text_with_braces_is_inserted_verbatim(pairwise):
    result = pairwise.compare(['{"a": {response_b}}', "rude {0}"], prompt="{context} {}")
    assert 0.0 <= result.probability <= 1.0


def test_huge_responses_are_refused_before_tokenizing_and_a_huge_context_is_cut(checkpoint):
    """Megabytes are never tokenized whole: responses that cannot fit are refused on a bounded read,
    and a context of a million characters keeps only the end the model can read."""
    model = RewardModel.load(checkpoint("pairwise_lm"), pairwise=True, max_length=60)
    with pytest.raises(InvalidInputError, match="more than 60 tokens can hold"):
        model.compare(["word " * 200_000, "rude"], prompt="hi")
    huge = " ".join(tiny_models.hh_texts(3)) * 500
    tail = huge[-2000:]
    assert model.compare(["thanks", "rude"], prompt=huge).probability == pytest.approx(
        model.compare(["thanks", "rude"], prompt=tail).probability, abs=TOL
    )
