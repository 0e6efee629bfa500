"""Reports on disk: report.json, report.md and the PNG plot, from runs of a made-up scorer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rewardkit.data.records import MultipleChoice, PreferencePair
from rewardkit.evaluation.mc import evaluate_mc
from rewardkit.evaluation.pairs import evaluate_pairs
from rewardkit.evaluation.report import write_report
from rewardkit.scoring.scorer import ScoreTable

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
USER = [{"role": "user", "content": "Q"}]


class LengthScorer:
    """Longer is better ('long'), shorter is better ('short'); combined is their mean plus length/10."""

    name = "toy-ensemble"
    pairwise = False

    def score(self, conversations, *, progress=False):
        lengths = np.array([len(c[-1]["content"]) for c in conversations], dtype=float)
        return ScoreTable(combined=lengths / 10, members={"long": lengths, "short": -lengths})

    def prefer(self, pairs, *, progress=False):
        raise AssertionError("not a pairwise scorer")


def pairs() -> list[PreferencePair]:
    rows = [("alpacaeval-easy", "long answer", "no", 1.0), ("alpacaeval-easy", "yes", "much longer", 1.0)]
    rows += [("math-prm", "a proof", "x", 1.0), ("hep-python", "code", "y", 1.0), ("my-data", "ok", "fine", 0.3)]
    return [
        PreferencePair(USER, a, b, p, subset, second_generator="gen-a" if i % 2 else "gen-b", source=f"f:{i}")
        for i, (subset, a, b, p) in enumerate(rows)
    ]


def test_pairs_report_writes_json_markdown_and_a_png(tmp_path):
    report = evaluate_pairs(LengthScorer(), pairs(), progress=False)
    paths = write_report(report, tmp_path / "out")
    assert [p.name for p in paths] == ["report.json", "report.md", "accuracy.png"]
    assert all(p.exists() for p in paths)
    assert paths[2].read_bytes().startswith(PNG_MAGIC)

    data = json.loads(paths[0].read_text())
    assert data["kind"] == "pairs" and data["scorer"] == "toy-ensemble" and data["soft_labels"] is True
    assert set(data["members"]) == {"long", "short"}
    assert data["combined"]["subsets"]["alpacaeval-easy"]["n"] == 2
    assert data["combined"]["rewardbench"]["unmatched"] == ["my-data"]

    md = paths[1].read_text()
    assert "| subset | n | accuracy | 95% CI |" in md and "long accuracy" in md and "short accuracy" in md
    assert "| **overall** | 5 |" in md
    # alpacaeval-easy: the longer answer wins one of two; 'long' agrees, 'short' disagrees
    assert "| alpacaeval-easy | 2 | 50.0% |" in md
    assert "## RewardBench sections" in md and "| Reasoning |" in md and "Not RewardBench subsets" in md
    assert "| gen-a | 2 |" in md
    assert "soft" in md


def test_mc_report_writes_json_markdown_and_a_png(tmp_path):
    questions = [
        MultipleChoice(USER, "the longest answer", ["short", "shorter"], "Health", source="q:1"),
        MultipleChoice(USER, "no", ["a longer wrong one"], "Law", source="q:2"),
        MultipleChoice(USER, "tie", ["eit", "x"], "Law", source="q:3"),
    ]
    report = evaluate_mc(LengthScorer(), questions, progress=False)
    paths = write_report(report, tmp_path)
    assert [p.name for p in paths] == ["report.json", "report.md", "ranks.png"]
    assert paths[2].read_bytes().startswith(PNG_MAGIC)
    data = json.loads(paths[0].read_text())
    assert data["kind"] == "mc"
    assert data["combined"]["overall"]["rank_counts"] == [1, 2, 0]  # the tie ranks the correct answer 2nd
    assert data["combined"]["overall"]["top1"] == pytest.approx(1 / 3)
    md = paths[1].read_text()
    assert "| subset | n | top-1 | 95% CI | chance |" in md
    assert "| Health | 1 | 100.0% |" in md and "| Law | 2 | 0.0% |" in md
    assert "long top-1" in md and "short top-1" in md
