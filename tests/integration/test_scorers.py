"""The concrete Scorers behind `eval` and `bon`: a local model, a local pairwise model, an ensemble,
and a real server on 127.0.0.1 (pointwise and pairwise), each against RewardModel directly."""

from __future__ import annotations

import random

import numpy as np
import pytest
import tiny_pairwise
from processes import app_in_thread

from rewardkit.config import EnsembleConfig, ModelConfig
from rewardkit.models import load_model
from rewardkit.scoring.model import RewardModel
from rewardkit.scoring.scorer import PairToJudge
from rewardkit.scoring.scorers import LocalScorer, RemoteScorer, build_scorer
from rewardkit.serving import build

CONVERSATIONS = [
    [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi, how can I help?"}],
    [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
]


def judged_pairs():
    rng = random.Random(3)
    pairs = []
    for i in range(4):
        good, bad = tiny_pairwise.good_response(rng), tiny_pairwise.bad_response(rng)
        first, second = (good, bad) if i % 2 == 0 else (bad, good)
        pairs.append(PairToJudge([{"role": "user", "content": f"question {i}"}], first, second))
    return pairs


@pytest.fixture(scope="module")
def pairwise_dir(checkpoint):
    return checkpoint("pairwise_lm")


def test_local_scorer_matches_the_model(llama_dir):
    scorer = build_scorer([str(llama_dir)])
    assert isinstance(scorer, LocalScorer) and not scorer.pairwise
    table = scorer.score(CONVERSATIONS)
    direct = RewardModel(load_model(llama_dir, ModelConfig())).score(CONVERSATIONS)
    np.testing.assert_allclose(table.combined, direct, atol=1e-5)
    assert table.members == {}


def test_ensemble_scorer_reports_members(checkpoint):
    scorer = build_scorer([str(checkpoint("llama")), str(checkpoint("qwen2"))], None, EnsembleConfig(ensemble="wco"))
    table = scorer.score(CONVERSATIONS)
    assert set(table.members) == {"llama", "qwen2"}
    np.testing.assert_allclose(table.combined, np.minimum(table.members["llama"], table.members["qwen2"]))


def test_local_pairwise_scorer_prefers_like_compare(pairwise_dir):
    config = ModelConfig(pairwise=True)
    scorer = build_scorer([str(pairwise_dir)], config)
    assert scorer.pairwise
    pairs = judged_pairs()
    direct = RewardModel(load_model(pairwise_dir, config), config)
    expected = [direct.compare([p.first, p.second], messages=p.context).probability for p in pairs]
    np.testing.assert_allclose(scorer.prefer(pairs), expected, atol=1e-5)
    assert [p > 0.5 for p in expected] == [True, False, True, False]


def test_remote_scorers_through_real_servers(llama_dir, pairwise_dir):
    config = ModelConfig(pairwise=True)
    with app_in_thread(build(load_model(llama_dir, ModelConfig())), lifespan="on") as url:
        scorer = build_scorer([url])
        assert isinstance(scorer, RemoteScorer) and not scorer.pairwise
        direct = RewardModel(load_model(llama_dir, ModelConfig())).score(CONVERSATIONS)
        np.testing.assert_allclose(scorer.score(CONVERSATIONS).combined, direct, atol=1e-5)
    with app_in_thread(build(load_model(pairwise_dir, config), config), lifespan="on") as url:
        scorer = build_scorer([url])
        assert scorer.pairwise
        pairs = judged_pairs()
        direct = RewardModel(load_model(pairwise_dir, config), config)
        expected = [direct.compare([p.first, p.second], messages=p.context).probability for p in pairs]
        np.testing.assert_allclose(scorer.prefer(pairs), expected, atol=1e-5)


def test_a_url_cannot_be_mixed_with_checkpoints(llama_dir):
    from rewardkit.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="serve them as one"):
        build_scorer([str(llama_dir), "http://127.0.0.1:1"])
