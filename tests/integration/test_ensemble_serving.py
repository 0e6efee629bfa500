"""Ensembles served and run in-process, checked against each member scored on its own and the
objectives computed by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
from serving import serving, serving_app

from rewardkit.config import EnsembleConfig, ModelConfig
from rewardkit.errors import InvalidInputError
from rewardkit.models import load_model
from rewardkit.scoring.ensemble import Ensemble, EnsembleService, member_names
from rewardkit.scoring.model import RewardModel
from rewardkit.scoring.service import RewardService
from rewardkit.serving import build_ensemble

ARCHS = ("llama", "qwen2", "mistral")
PROMPT = "Which planet is the largest?"
CANDIDATES = [
    "Jupiter is the largest planet.",
    "Mars.",
    "I think it is Saturn, maybe.",
    "Jupiter is the largest planet.",
]
TEXTS = ["a short text", "another, somewhat longer text to score", "x"]


@pytest.fixture(scope="module")
def members(checkpoint):
    return {arch: load_model(checkpoint(arch), ModelConfig()) for arch in ARCHS}


@pytest.fixture(scope="module")
def alone(members):
    """Each member's own rewards, scored without any ensemble (the independent path)."""
    conversations = [[{"role": "user", "content": PROMPT}, {"role": "assistant", "content": c}] for c in CANDIDATES]
    scores = {}
    for arch, model in members.items():
        rm = RewardModel(model)
        scores[arch] = {"texts": np.array(rm.score(TEXTS)), "candidates": np.array(rm.score(conversations))}
    return scores


def by_hand(alone, key, method, lam=0.5, stats=None):
    matrix = np.stack([alone[a][key] for a in ARCHS])
    if stats is not None:
        matrix = (matrix - np.array(stats["mean"])[:, None]) / np.array(stats["std"])[:, None]
    if method == "mean":
        return matrix.mean(axis=0)
    if method == "wco":
        return matrix.min(axis=0)
    return matrix.mean(axis=0) - lam * ((matrix - matrix.mean(axis=0)) ** 2).mean(axis=0)


def ensemble_app(members, **config):
    return build_ensemble(list(members.values()), list(members), ensemble_config=EnsembleConfig(**config))


@pytest.mark.anyio
@pytest.mark.parametrize(("method", "lam"), [("mean", 0.5), ("wco", 0.5), ("uwo", 2.0), ("uwo", 0.0)])
async def test_get_reward_combines_members_and_reports_each(members, alone, method, lam):
    app = ensemble_app(members, ensemble=method, uwo_lambda=lam)
    async with serving_app(app) as client:
        body = (await client.post("/get_reward", json={"query": TEXTS})).json()
    np.testing.assert_allclose(body["rewards"], by_hand(alone, "texts", method, lam), atol=1e-5)
    for arch in ARCHS:
        np.testing.assert_allclose(body["extra_logs"][f"member/{arch}"], alone[arch]["texts"], atol=1e-5)


@pytest.mark.anyio
async def test_score_and_best_of_n_carry_member_scores(members, alone):
    app = ensemble_app(members, ensemble="wco")
    conversation = [{"role": "user", "content": PROMPT}, {"role": "assistant", "content": CANDIDATES[1]}]
    async with serving_app(app) as client:
        one = (await client.post("/score", json={"messages": conversation})).json()
        bon = (await client.post("/best_of_n", json={"prompt": PROMPT, "candidates": CANDIDATES})).json()
        info = (await client.get("/info")).json()
    assert one["score"] == pytest.approx(min(alone[a]["candidates"][1] for a in ARCHS), abs=1e-5)
    assert set(one["members"]) == set(ARCHS)
    expected = by_hand(alone, "candidates", "wco")
    np.testing.assert_allclose(bon["scores"], expected, atol=1e-5)
    assert bon["best"] == int(np.argmax(expected))
    assert bon["best_candidate"] == CANDIDATES[bon["best"]]
    for arch in ARCHS:
        np.testing.assert_allclose(bon["members"][arch], alone[arch]["candidates"], atol=1e-5)
    assert info["format"] == "ensemble"
    assert info["ensemble"]["method"] == "wco"
    assert set(info["members"]) == set(ARCHS)


@pytest.mark.anyio
async def test_standardization_uses_the_reference_set(members, alone, tmp_path):
    reference = tmp_path / "reference.jsonl"
    reference.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    app = ensemble_app(members, ensemble="mean", standardize=str(reference))
    async with serving_app(app) as client:
        info = (await client.get("/info")).json()
        bon = (await client.post("/best_of_n", json={"prompt": PROMPT, "candidates": CANDIDATES})).json()
    stats = {
        "mean": [float(alone[a]["texts"].mean()) for a in ARCHS],
        "std": [float(alone[a]["texts"].std()) for a in ARCHS],
    }
    np.testing.assert_allclose(info["ensemble"]["standardization"]["mean"], stats["mean"], atol=1e-5)
    np.testing.assert_allclose(info["ensemble"]["standardization"]["std"], stats["std"], atol=1e-5)
    np.testing.assert_allclose(bon["scores"], by_hand(alone, "candidates", "mean", stats=stats), atol=1e-4)


def test_in_process_ensemble_matches_the_server_math(members, alone, tmp_path):
    rms = [RewardModel(members[a]) for a in ARCHS]
    ensemble = Ensemble(rms, list(ARCHS), EnsembleConfig(ensemble="uwo", uwo_lambda=1.0))
    np.testing.assert_allclose(ensemble.score(TEXTS), by_hand(alone, "texts", "uwo", 1.0), atol=1e-5)
    pick = ensemble.best_of_n(CANDIDATES, prompt=PROMPT)
    expected = by_hand(alone, "candidates", "uwo", 1.0)
    assert pick.best == int(np.argmax(expected))
    assert set(pick.members) == set(ARCHS)
    assert ensemble.rank(CANDIDATES, prompt=PROMPT).order == pick.order


def test_identical_candidates_tie_and_the_earlier_one_wins(members, alone):
    pick = RewardModel(members["llama"]).best_of_n(CANDIDATES, prompt=PROMPT)
    # candidates 0 and 3 are the same text: the same score, so they sit next to each other, 0 first
    assert pick.scores[0] == pick.scores[3]
    assert pick.order.index(0) + 1 == pick.order.index(3)
    assert pick.best == int(np.argmax(alone["llama"]["candidates"]))


def test_bad_ensembles_are_refused(members, checkpoint, tmp_path):
    rm = RewardModel(members["llama"])
    with pytest.raises(InvalidInputError, match="uwo-lambda"):
        Ensemble([rm], ["a"], EnsembleConfig(ensemble="uwo", uwo_lambda=-1.0))
    pairwise = RewardModel(
        load_model(checkpoint("pairwise_lm"), ModelConfig(pairwise=True)), ModelConfig(pairwise=True)
    )
    with pytest.raises(InvalidInputError, match="pairwise"):
        Ensemble([rm, pairwise], ["a", "b"])
    with pytest.raises(InvalidInputError, match="pairwise"):
        EnsembleService([RewardService(pairwise.model, ModelConfig(pairwise=True))], ["p"])
    single = tmp_path / "one.jsonl"
    single.write_text(json.dumps({"text": "only one"}) + "\n")
    with pytest.raises(InvalidInputError, match="at least two rows"):
        Ensemble([rm], ["a"], EnsembleConfig(standardize=str(single)))


@pytest.mark.anyio
async def test_best_of_n_errors_are_specific(members):
    app = ensemble_app(members)
    async with serving_app(app) as client:
        empty = await client.post("/best_of_n", json={"prompt": PROMPT, "candidates": []})
        no_context = await client.post("/best_of_n", json={"candidates": ["a"]})
        wrong_type = await client.post("/best_of_n", json={"prompt": PROMPT, "candidates": ["a", 3]})
    assert empty.status_code == 422 and "candidates" in empty.text
    assert no_context.status_code == 422 and "prompt" in no_context.text
    assert wrong_type.status_code == 422 and "candidates" in wrong_type.text


@pytest.mark.anyio
async def test_best_of_n_with_a_single_model_and_a_pairwise_model(members, checkpoint, alone):
    async with serving(members["llama"]) as client:
        bon = (await client.post("/best_of_n", json={"prompt": PROMPT, "candidates": CANDIDATES})).json()
    np.testing.assert_allclose(bon["scores"], alone["llama"]["candidates"], atol=1e-5)
    assert "members" not in bon and bon["method"] == "scores"

    config = ModelConfig(pairwise=True)
    pairwise = load_model(checkpoint("pairwise_lm"), config)
    responses = ["good good answer", "bad bad answer", "good answer"]
    async with serving(pairwise, config) as client:
        bon = (await client.post("/best_of_n", json={"prompt": "q", "candidates": responses})).json()
        rank = (await client.post("/rank", json={"prompt": "q", "candidates": responses})).json()
    assert bon["method"] == "knockout"
    assert bon["order"] == rank["order"]
    assert bon["best"] == rank["best"]


def test_member_names_are_unique_and_readable():
    assert member_names(["/a/rm", "/b/rm", "http://h:1/", "builtin"]) == ["rm", "rm#2", "http://h:1", "builtin"]
