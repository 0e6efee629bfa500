"""`rewardkit eval pairs | mc` from the command line on a real tiny model: the report's numbers
against the same model scoring each item directly."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rewardkit.cli import app
from rewardkit.config import ModelConfig
from rewardkit.models import load_model
from rewardkit.scoring.model import RewardModel

runner = CliRunner()

PAIRS = [
    {"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon, I think.", "subset": "geo"},
    {"prompt": "Capital of Italy?", "chosen": "Rome is the capital.", "rejected": "Milan.", "subset": "geo"},
    {"prompt": "2 + 3?", "chosen": "5", "rejected": "6", "subset": "math"},
    {"prompt": "10 / 2?", "chosen": "It is 5.", "rejected": "It is 20.", "subset": "math"},
    {"prompt": "Say hi.", "chosen": "hi", "rejected": "no", "subset": "chat"},
]
QUESTIONS = [
    {"question": "Is the earth flat?", "correct": "No, it is round.", "incorrect": ["Yes.", "It is a cube."]},
    {"question": "What do bees make?", "correct": "Honey.", "incorrect": ["Milk.", "Silk.", "Nothing."]},
    {"question": "Boiling point of water?", "correct": "100 C at sea level.", "incorrect": ["50 C."]},
]


def user_assistant(prompt, response):
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


def invoke(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def llama(llama_dir):
    return RewardModel(load_model(llama_dir, ModelConfig()))


def test_eval_pairs_report_matches_direct_scoring(tmp_path, llama_dir, llama):
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in PAIRS))
    invoke(["eval", "pairs", str(data), "-m", str(llama_dir), "-o", str(tmp_path / "out")])
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    correct = [
        llama.score([user_assistant(r["prompt"], r["chosen"])])[0]
        > llama.score([user_assistant(r["prompt"], r["rejected"])])[0]
        for r in PAIRS
    ]
    assert report["combined"]["overall"]["n"] == 5
    assert report["combined"]["overall"]["accuracy"] == pytest.approx(sum(correct) / 5)
    assert report["combined"]["subsets"]["geo"]["accuracy"] == pytest.approx(sum(correct[:2]) / 2)
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| geo" in markdown and "| math" in markdown
    assert (tmp_path / "out" / "accuracy.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_pairs_with_an_ensemble_reports_members_and_limit_samples(tmp_path, checkpoint):
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in PAIRS))
    args = ["eval", "pairs", str(data), "-m", str(checkpoint("llama")), "-m", str(checkpoint("qwen2"))]
    invoke([*args, "--ensemble", "uwo", "--uwo-lambda", "0", "--limit", "3", "-o", str(tmp_path / "out")])
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["combined"]["overall"]["n"] == 3
    assert set(report["members"]) == {"llama", "qwen2"}
    assert report["scorer"].startswith("uwo(")


def test_eval_mc_report_matches_direct_scoring(tmp_path, llama_dir, llama):
    data = tmp_path / "mc.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in QUESTIONS))
    result = invoke(["eval", "mc", str(data), "-m", str(llama_dir), "-o", str(tmp_path / "out")])
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    ranks, top1 = [], []
    for q in QUESTIONS:
        correct = llama.score([user_assistant(q["question"], q["correct"])])[0]
        wrong = llama.score([user_assistant(q["question"], a) for a in q["incorrect"]])
        ranks.append(1 + sum(w >= correct for w in wrong))
        top1.append(all(w < correct for w in wrong))
    overall = report["combined"]["overall"]
    assert overall["mean_rank"] == pytest.approx(sum(ranks) / 3)
    assert overall["top1"] == pytest.approx(sum(top1) / 3)
    assert "top-1" in result.output
    assert (tmp_path / "out" / "ranks.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_errors_name_the_file_and_line(tmp_path, llama_dir):
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps(PAIRS[0]) + "\n" + json.dumps({"prompt": "x", "chosen": 3, "rejected": "y"}) + "\n")
    result = runner.invoke(app, ["eval", "pairs", str(data), "-m", str(llama_dir), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "pairs.jsonl:2" in result.output
