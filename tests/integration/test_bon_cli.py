"""`rewardkit bon pool | select | eval` end to end on a real tiny model, checked against scores
computed with the model directly and the estimator applied by hand."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rewardkit.cli import app
from rewardkit.config import ModelConfig
from rewardkit.models import load_model
from rewardkit.scoring.model import RewardModel
from rewardkit.selection.best_of_n import pool_curve

DATA = Path(__file__).resolve().parents[1] / "data"
runner = CliRunner()

POOL = [
    {
        "prompt": "Name a primary colour.",
        "candidates": ["Red.", "Blue is one.", "Red.", "Purple, I believe.", "Yellow is a primary colour."],
        "gold_scores": [1.0, 1.0, 0.5, 0.0, 1.0],
    },
    {
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2 + 2?"}],
        "candidates": [
            {"text": "4", "gold": 1.0},
            {"text": "5", "gold": 0.0},
            {"text": "four", "gold": 0.9},
            {"text": "22", "gold": 0.0},
            {"text": "It is 4.", "gold": 1.0},
            {"text": "3", "gold": 0.0},
        ],
    },
    {
        "instruction": "Say hello.",
        "candidates": ["hello", "hi there", "goodbye", "HELLO!", "hey"],
        "gold_scores": [1.0, 0.8, 0.0, 0.7, 0.6],
    },
]


def contexts():
    return [
        [{"role": "user", "content": "Name a primary colour."}],
        POOL[1]["messages"],
        [{"role": "user", "content": "Say hello."}],
    ]


def texts(row):
    return [c["text"] if isinstance(c, dict) else c for c in row["candidates"]]


def golds(row):
    return row.get("gold_scores") or [c["gold"] for c in row["candidates"]]


@pytest.fixture
def pool_file(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in POOL))
    return path


def direct_scores(folder):
    """Each candidate scored on its own; a repeated text then takes its first copy's score, since
    the same text must tie exactly (one forward can differ from another by float noise)."""
    rm = RewardModel(load_model(folder, ModelConfig()))
    pools = []
    for ctx, row in zip(contexts(), POOL):
        scores = [rm.score([[*ctx, {"role": "assistant", "content": t}]])[0] for t in texts(row)]
        first = {}
        for i, t in enumerate(texts(row)):
            assert scores[i] == pytest.approx(scores[first.setdefault(t, i)], abs=1e-5)
            scores[i] = scores[first[t]]
        pools.append(scores)
    return pools


def invoke(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


def test_bon_eval_matches_the_estimator_on_direct_scores(pool_file, tmp_path, llama_dir):
    out = tmp_path / "out"
    invoke(["bon", "eval", str(pool_file), "-m", str(llama_dir), "-o", str(out), "--ns", "1,2,3,5"])
    curve = json.loads((out / "bon_curve.json").read_text())
    expected = pool_curve(direct_scores(llama_dir), [golds(r) for r in POOL], [1, 2, 3, 5])
    assert [p["n"] for p in curve] == [1, 2, 3, 5]
    for got, want in zip(curve, expected):
        assert got["proxy_score"] == pytest.approx(want.proxy_score, abs=1e-5)
        assert got["gold_score"] == pytest.approx(want.gold_score, abs=1e-5)
        assert got["kl"] == pytest.approx(want.kl)
    with open(out / "bon_curve.csv") as f:
        assert len(list(csv.DictReader(f))) == 4
    assert (out / "bon_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_select_then_eval_from_the_stored_proxy_scores(pool_file, tmp_path, llama_dir):
    selected = tmp_path / "selected.jsonl"
    invoke(["bon", "select", str(pool_file), "-m", str(llama_dir), "-o", str(selected)])
    rows = [json.loads(line) for line in selected.read_text().splitlines()]
    for row, scores in zip(rows, direct_scores(llama_dir)):
        assert row["best"] == int(np.argmax(scores))
        assert row["best_candidate"] == texts(row)[row["best"]]
        np.testing.assert_allclose(row["proxy_scores"], scores, atol=1e-5)
    # identical texts share one score exactly, so they tie and cannot reorder the estimate
    assert rows[0]["proxy_scores"][0] == rows[0]["proxy_scores"][2]
    out_model, out_stored = tmp_path / "model", tmp_path / "stored"
    invoke(["bon", "eval", str(pool_file), "-m", str(llama_dir), "-o", str(out_model)])
    invoke(["bon", "eval", str(selected), "-o", str(out_stored)])  # no model: uses proxy_scores
    assert json.loads((out_model / "bon_curve.json").read_text()) == json.loads(
        (out_stored / "bon_curve.json").read_text()
    )


def test_ensemble_curves_per_member(pool_file, tmp_path, checkpoint):
    out = tmp_path / "out"
    a, b = checkpoint("llama"), checkpoint("qwen2")
    invoke(["bon", "eval", str(pool_file), "-m", str(a), "-m", str(b), "--ensemble", "wco", "-o", str(out)])
    curves = json.loads((out / "bon_curves.json").read_text())["curves"]
    assert set(curves) == {"proxy", "llama", "qwen2"}
    scores_a, scores_b = direct_scores(a), direct_scores(b)
    worst = [np.minimum(x, y) for x, y in zip(scores_a, scores_b)]
    expected = pool_curve(worst, [golds(r) for r in POOL])
    for got, want in zip(curves["proxy"], expected):
        assert got["gold_score"] == pytest.approx(want.gold_score, abs=1e-5)
    for got, want in zip(curves["qwen2"], pool_curve(scores_b, [golds(r) for r in POOL])):
        assert got["proxy_score"] == pytest.approx(want.proxy_score, abs=1e-5)


def test_pool_from_alpaca_eval_has_the_reference_and_every_generator(tmp_path):
    pool = tmp_path / "pool.jsonl"
    invoke(["bon", "pool", str(DATA / "alpaca_eval"), "-o", str(pool), "--limit", "5"])
    rows = [json.loads(line) for line in pool.read_text().splitlines()]
    assert len(rows) == 5
    for row in rows:
        assert len(row["candidates"]) == 13
        reference = row["candidates"][0]
        assert reference["generator"].endswith("(reference)") and reference["gold"] == 0.5
        assert all(0.0 <= c["gold"] <= 1.0 for c in row["candidates"])
        # the reference generator was also judged against itself: the same text, twice
        same = [c for c in row["candidates"] if c["generator"] == "gpt4_1106_preview"]
        assert same and same[0]["text"] == reference["text"]


def test_bad_pools_and_models_get_clear_errors(tmp_path, checkpoint, llama_dir):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(POOL[0]) + "\n" + json.dumps({"prompt": "x", "candidates": "not a list"}) + "\n")
    result = runner.invoke(app, ["bon", "eval", str(bad), "-m", str(llama_dir)])
    assert result.exit_code == 2 and "bad.jsonl:2" in result.output and "candidates" in result.output
    short = tmp_path / "short.jsonl"
    short.write_text(json.dumps(POOL[0]) + "\n")
    result = runner.invoke(app, ["bon", "eval", str(short), "-m", str(llama_dir), "--ns", "1,9"])
    assert result.exit_code == 2 and "smallest group" in result.output
    result = runner.invoke(app, ["bon", "eval", str(short), "-m", str(checkpoint("pairwise_lm")), "--pairwise"])
    assert result.exit_code == 2 and "pairwise" in result.output
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(json.dumps(POOL[0]) + "\n" + json.dumps({"prompt": "y", "candidates": ["a", "b"]}) + "\n")
    result = runner.invoke(app, ["bon", "eval", str(mixed), "-m", str(llama_dir)])
    assert result.exit_code == 2 and "gold" in result.output
