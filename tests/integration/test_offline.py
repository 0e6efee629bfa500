from __future__ import annotations

import json

import pytest
import tiny_models
from typer.testing import CliRunner

from rewardkit import RewardModel
from rewardkit.cli import app
from rewardkit.scoring.bulk import score_file

CONV = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_score_command_keeps_order_and_fields(tmp_path, llama_dir):
    texts = [t[: 10 + 13 * i] for i, t in enumerate(tiny_models.hh_texts(9))]
    rows = [{"id": i, "text": t} for i, t in enumerate(texts)] + [{"id": 99, "messages": CONV}]
    write_jsonl(tmp_path / "in.jsonl", rows)
    result = CliRunner().invoke(
        app,
        [
            "score",
            str(llama_dir),
            str(tmp_path / "in.jsonl"),
            "-o",
            str(tmp_path / "out.jsonl"),
            "--max-batch-tokens",
            "64",
        ],
    )
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in out] == [r["id"] for r in rows]
    model = RewardModel.load(llama_dir)
    assert [r["score"] for r in out[:-1]] == pytest.approx(model.score(texts), abs=1e-5)
    assert out[-1]["score"] == pytest.approx(model.score([CONV])[0], abs=1e-5)


def test_score_file_writes_objectives_and_steps(tmp_path, checkpoint):
    rows = [{"text": "step one\nstep two\n"}, {"text": "no steps"}]
    write_jsonl(tmp_path / "in.jsonl", rows)
    prm = RewardModel.load(checkpoint("token_classification_prm"))
    score_file(prm, tmp_path / "in.jsonl", tmp_path / "prm.jsonl", progress=False)
    out = [json.loads(line) for line in (tmp_path / "prm.jsonl").read_text().splitlines()]
    assert len(out[0]["steps"]) == 2 and out[1]["steps"] == []
    assert out[0]["score"] == pytest.approx(min(out[0]["steps"]))
    multi = RewardModel.load(checkpoint("llama_multi_label"))
    score_file(multi, tmp_path / "in.jsonl", tmp_path / "multi.jsonl", progress=False)
    first = json.loads((tmp_path / "multi.jsonl").read_text().splitlines()[0])
    assert set(first["objectives"]) == {"helpfulness", "harmlessness", "honesty"}
    assert first["score"] == pytest.approx(first["objectives"]["helpfulness"])
