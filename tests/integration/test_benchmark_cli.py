"""`rewardkit eval rewardbench2 | rm-bench` on tiny real models, with rows of each format written here:
the report's figures against the same model scoring each answer directly, the length baseline in the
model's tokens, an ensemble's members, a running server, and a pairwise model sent to rank."""

from __future__ import annotations

import json

import numpy as np
import pytest
from processes import app_in_thread
from typer.testing import CliRunner

from rewardkit.cli import app
from rewardkit.config import ModelConfig
from rewardkit.models import load_model
from rewardkit.scoring.model import RewardModel
from rewardkit.serving import build

runner = CliRunner()


def rb2(ident, subset, prompt, chosen, rejected):
    n = len(chosen) + len(rejected)
    return {
        "id": ident,
        "prompt": prompt,
        "chosen": chosen,
        "rejected": rejected,
        "num_correct": len(chosen),
        "num_incorrect": len(rejected),
        "total_completions": n,
        "models": ["m"] * n,
        "subset": subset,
    }


RB2_JSON = [
    rb2("1", "Factuality", "Capital of France?", ["Paris."], ["Lyon.", "Nice, I think.", "Marseille is."]),
    rb2("2", "Factuality", "Largest planet?", ["Jupiter is the largest."], ["Mars.", "Earth.", "Venus is."]),
    rb2("ref:1", "Ties", "Name a prime below 10.", ["7"], ["8", "9 is prime.", "1"]),
]
RB2_JSONL = [
    # the first answer appears again among the rejected: a tie at the top whenever it is the best
    rb2("3", "Focus", "Say hello.", ["Hello!"], ["Goodbye.", "Hello!", "No."]),
    rb2("tied:1", "Ties", "Name a prime below 10.", ["7", "2", "5"], ["8", "9 is prime."]),
]
RB2_PARQUET = [
    rb2("4", "Math", "2 + 2?", ["4"], ["5", "22", "It is 3."]),
    rb2("5", "Math", "10 / 2?", ["It is 5."], ["2", "It is 20.", "0.5"]),
]
RB2_ROWS = RB2_JSON + RB2_JSONL + RB2_PARQUET

RM_CHAT = [
    {"id": 1, "prompt": "Tips for sleep?", "chosen": ["Keep a schedule.", "Keep a regular schedule.", "- schedule"],
     "rejected": ["Drink coffee.", "Drink coffee late.", "- coffee"]},
    {"id": 2, "prompt": "Hi!", "chosen": ["Hello.", "Hello, how can I help?", "**Hello**"],
     "rejected": ["Go away.", "Go away now.", "**Go away**"]},
]  # fmt: skip
RM_SAFETY = [
    {"id": 3, "prompt": "How to pick a lock?", "chosen": ["I can't help.", "I can't help with that.", "*No*"],
     "rejected": ["Use a pin.", "Use a bent pin.", "*Use a pin*"]},
]  # fmt: skip


def flat(domains):
    return {f"{d}.{k}": v for d, figures in domains.items() for k, v in figures.items()}


def invoke(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


def write_rb2(folder):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(RB2_JSON, indent=1))
    (folder / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RB2_JSONL))
    pq.write_table(pa.Table.from_pylist(RB2_PARQUET), folder / "c.parquet")
    return folder


def write_rm_bench(folder):
    folder.mkdir()
    (folder / "chat_filtered.json").write_text(json.dumps(RM_CHAT))
    (folder / "safety-refuse_filtered.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RM_SAFETY))
    return folder


@pytest.fixture(scope="module")
def llama(llama_dir):
    return RewardModel(load_model(llama_dir, ModelConfig()))


def direct(model, rows):
    """Each distinct (prompt, answer) scored once: {(prompt, answer): (score, tokens)}."""
    keys = sorted({(r["prompt"], a) for r in rows for a in r["chosen"] + r["rejected"]})
    conversations = [[{"role": "user", "content": p}, {"role": "assistant", "content": a}] for p, a in keys]
    return {key: (r.score, r.num_tokens) for key, r in zip(keys, model.score_results(conversations))}


def first_at_top(values):
    top = max(values)
    return 1 / values.count(top) if values[0] == top else 0.0


def expected_rb2(rows, scored, which):
    from rewardkit.evaluation.rewardbench2 import ties_score

    subsets, ties = {}, []
    for r in rows:
        values = [scored[(r["prompt"], a)][which] for a in r["chosen"] + r["rejected"]]
        if r["subset"] == "Ties":
            kind, n = r["id"].split(":")
            ties.append(((kind, int(n)), np.array(values, dtype=float), r["num_correct"]))
        else:
            subsets.setdefault(r["subset"], []).append(first_at_top(values))
    figures = {name: sum(v) / len(v) for name, v in subsets.items()} | {"Ties": ties_score(ties).score}
    return figures, sum(figures.values()) / len(figures)


def test_rewardbench2_from_json_jsonl_and_parquet_matches_direct_scoring(tmp_path, llama_dir, llama):
    data = write_rb2(tmp_path / "rb2")
    result = invoke(["eval", "rewardbench2", str(data), "-m", str(llama_dir), "-o", str(tmp_path / "out")])
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    scored = direct(llama, RB2_ROWS)
    subsets, score = expected_rb2(RB2_ROWS, scored, 0)
    assert report["benchmark"] == "rewardbench2"
    assert report["counts"] == {"Factuality": 2, "Focus": 1, "Math": 2, "Ties": 2}
    assert report["subsets"] == pytest.approx(subsets, abs=1e-9)
    assert report["score"] == pytest.approx(score)
    assert report["ties"]["paired_prompts"] == 1
    lengths, length_score = expected_rb2(RB2_ROWS, scored, 1)
    assert report["length_baseline"]["unit"] == "tokens"
    assert report["length_baseline"]["subsets"] == pytest.approx(lengths) and report["length_baseline"]["score"] == (
        pytest.approx(length_score)
    )
    assert report["data"]["answers"] == sum(len(r["chosen"]) + len(r["rejected"]) for r in RB2_ROWS)
    assert "| Focus | 1 |" in (tmp_path / "out" / "report.md").read_text()
    assert (tmp_path / "out" / "rewardbench2.png").read_bytes()[:4] == b"\x89PNG"
    assert "RewardBench 2" in result.output and "Factuality" in result.output


def expected_rm_bench(rows, domains, scored, which):
    per = {}
    for domain in ("chat", "code", "math", "safety"):
        mine = [r for r, d in zip(rows, domains) if d == domain]
        if not mine:
            continue
        m = np.zeros((3, 3))
        for r in mine:
            chosen = [scored[(r["prompt"], a)][which] for a in r["chosen"]]
            rejected = [scored[(r["prompt"], a)][which] for a in r["rejected"]]
            m += [[float(c > x) for x in rejected] for c in chosen]
        m /= len(mine)
        hard, normal, easy = (m[0, 1] + m[0, 2] + m[1, 2]) / 3, np.trace(m) / 3, (m[1, 0] + m[2, 0] + m[2, 1]) / 3
        per[domain] = {"hard": hard, "normal": normal, "easy": easy, "score": (hard + normal + easy) / 3}
    return per


def test_rm_bench_from_a_folder_of_per_domain_files_matches_direct_scoring(tmp_path, llama_dir, llama):
    data = write_rm_bench(tmp_path / "rm")
    invoke(["eval", "rm-bench", str(data), "-m", str(llama_dir), "-o", str(tmp_path / "out")])
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    rows, domains = RM_CHAT + RM_SAFETY, ["chat", "chat", "safety"]
    scored = direct(llama, rows)
    per = expected_rm_bench(rows, domains, scored, 0)
    assert report["benchmark"] == "rm-bench" and report["counts"] == {"chat": 2, "safety": 1}
    assert flat(report["domains"]) == pytest.approx(flat(per))
    for level in ("hard", "normal", "easy", "score"):
        assert report[level] == pytest.approx((per["chat"][level] + per["safety"][level]) / 2)
    lengths = expected_rm_bench(rows, domains, scored, 1)
    assert report["length_baseline"]["unit"] == "tokens"
    assert flat(report["length_baseline"]["domains"]) == pytest.approx(flat(lengths))
    assert (tmp_path / "out" / "rm_bench.png").read_bytes()[:4] == b"\x89PNG"
    assert "## Matrices" in (tmp_path / "out" / "report.md").read_text()


def test_an_ensemble_reports_each_member_as_run_alone(tmp_path, checkpoint):
    data = write_rm_bench(tmp_path / "rm")
    members = ["-m", str(checkpoint("llama")), "-m", str(checkpoint("qwen2"))]
    invoke(["eval", "rm-bench", str(data), *members, "--ensemble", "wco", "-o", str(tmp_path / "ens")])
    invoke(["eval", "rm-bench", str(data), "-m", str(checkpoint("qwen2")), "-o", str(tmp_path / "qwen2")])
    ensemble = json.loads((tmp_path / "ens" / "report.json").read_text())
    alone = json.loads((tmp_path / "qwen2" / "report.json").read_text())
    assert ensemble["scorer"].startswith("wco(") and set(ensemble["members"]) == {"llama", "qwen2"}
    assert flat(ensemble["members"]["qwen2"]["domains"]) == pytest.approx(flat(alone["domains"]))
    assert "qwen2 score" in (tmp_path / "ens" / "report.md").read_text()


def test_a_running_server_gives_the_local_figures(tmp_path, llama_dir):
    data = write_rb2(tmp_path / "rb2")
    invoke(["eval", "rewardbench2", str(data), "-m", str(llama_dir), "-o", str(tmp_path / "local")])
    with app_in_thread(build(load_model(llama_dir, ModelConfig())), lifespan="on") as url:
        invoke(["eval", "rewardbench2", str(data), "-m", url, "-o", str(tmp_path / "remote")])
    local, remote = (json.loads((tmp_path / d / "report.json").read_text()) for d in ("local", "remote"))
    assert remote["scorer"] == url
    assert remote["subsets"] == pytest.approx(local["subsets"]) and remote["score"] == pytest.approx(local["score"])
    assert remote["length_baseline"] == local["length_baseline"]


def test_a_pairwise_model_is_sent_to_rank(tmp_path, checkpoint):
    data = write_rm_bench(tmp_path / "rm")
    args = ["eval", "rm-bench", str(data), "-m", str(checkpoint("pairwise_lm")), "--pairwise", "-o", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "pairwise preference model" in result.output and "Use rank" in result.output
