"""Combining servers: a real `rewardkit serve` process whose ensemble has a local checkpoint and
another running server as members; Best-of-N and evaluation through its URL."""

from __future__ import annotations

import json

import numpy as np
import pytest
from processes import start_server, stop_server
from typer.testing import CliRunner

from rewardkit import Client
from rewardkit.cli import app
from rewardkit.config import ModelConfig
from rewardkit.models import load_model
from rewardkit.scoring.model import RewardModel
from rewardkit.selection.best_of_n import pool_curve

pytestmark = pytest.mark.e2e

PROMPT = "Name a fruit."
CANDIDATES = ["An apple.", "A carrot is a fruit.", "Banana!", "An apple."]


@pytest.fixture(scope="module")
def servers(checkpoint):
    member, member_url = start_server(str(checkpoint("llama")))
    try:
        ensemble, url = start_server(str(checkpoint("qwen2")), member_url, "--ensemble", "wco")
    except Exception:
        stop_server(member)
        raise
    yield url, member_url
    stop_server(ensemble)
    stop_server(member)


def local_scores(folder, texts):
    rm = RewardModel(load_model(folder, ModelConfig()))
    return np.array(
        rm.score([[{"role": "user", "content": PROMPT}, {"role": "assistant", "content": t}] for t in texts])
    )


def test_an_ensemble_of_a_checkpoint_and_a_server(servers, checkpoint):
    url, member_url = servers
    llama, qwen2 = local_scores(checkpoint("llama"), CANDIDATES), local_scores(checkpoint("qwen2"), CANDIDATES)
    with Client(url) as rk:
        pick = rk.best_of_n(CANDIDATES, prompt=PROMPT)
        info = rk.info()
        rewards = rk.get_reward(["some text"])
    np.testing.assert_allclose(pick["scores"], np.minimum(llama, qwen2), atol=1e-5)
    np.testing.assert_allclose(pick["members"][member_url], llama, atol=1e-5)
    np.testing.assert_allclose(pick["members"]["qwen2"], qwen2, atol=1e-5)
    assert pick["best"] == int(np.argmax(np.minimum(llama, qwen2)))
    assert info["ensemble"]["members"] == ["qwen2", member_url]
    assert set(rewards["extra_logs"]) >= {"member/qwen2", f"member/{member_url}"}


def test_bon_eval_and_eval_pairs_through_a_url(servers, checkpoint, tmp_path):
    url, _ = servers
    pool = tmp_path / "pool.jsonl"
    gold = [1.0, 0.0, 0.8, 0.6]
    pool.write_text(json.dumps({"prompt": PROMPT, "candidates": CANDIDATES, "gold_scores": gold}) + "\n")
    result = CliRunner().invoke(app, ["bon", "eval", str(pool), "-m", url, "-o", str(tmp_path / "bon")])
    assert result.exit_code == 0, result.output
    curves = json.loads((tmp_path / "bon" / "bon_curves.json").read_text())["curves"]
    worst = np.minimum(local_scores(checkpoint("llama"), CANDIDATES), local_scores(checkpoint("qwen2"), CANDIDATES))
    worst[3] = worst[0]  # the repeated text is scored once and shared
    expected = pool_curve([worst], [gold])
    assert [p["gold_score"] for p in curves["proxy"]] == pytest.approx([p.gold_score for p in expected], abs=1e-5)
    assert "qwen2" in curves  # member curves come through the server too

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": PROMPT, "chosen": "Banana!", "rejected": "A carrot is a fruit."}) + "\n")
    result = CliRunner().invoke(app, ["eval", "pairs", str(pairs), "-m", url, "-o", str(tmp_path / "pairs")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "pairs" / "report.json").read_text())
    assert report["combined"]["overall"]["n"] == 1
    assert set(report["members"]) == {"qwen2", servers[1]}
