"""RewardBench 2 and RM-Bench files: every format read alike and streamed, a bad row named by file,
row and field before anything is scored, and a 10,000-row file scored without holding it."""

from __future__ import annotations

import gzip
import json
import tracemalloc

import numpy as np
import pytest
from typer.testing import CliRunner

from rewardkit.cli import app
from rewardkit.data import streams
from rewardkit.data.rewardbench2 import check_rewardbench2, sample_rewardbench2
from rewardkit.data.rm_bench import check_rm_bench
from rewardkit.errors import InvalidInputError
from rewardkit.evaluation.rewardbench2 import evaluate_rewardbench2
from rewardkit.scoring.scorer import ScoreTable

runner = CliRunner()


def rb2_row(i: int, subset: str = "Focus", **changes) -> dict:
    row = {
        "id": str(i),
        "prompt": f"question {i}",
        "chosen": [f"good answer {i}"],
        "rejected": [f"bad {i}", f"worse {i}", f"worst answer {i}"],
        "num_correct": 1,
        "num_incorrect": 3,
        "total_completions": 4,
        "models": ["m"] * 4,
        "subset": subset,
    }
    return {**row, **changes}


def ties_rows() -> list[dict]:
    two = {"chosen": ["a", "b"], "rejected": ["c"], "num_correct": 2, "num_incorrect": 1, "total_completions": 3}
    one = {"chosen": ["a"], "rejected": ["c"], "num_correct": 1, "num_incorrect": 1, "total_completions": 2}
    return [rb2_row(0, "Ties", id="ref:5", **one), rb2_row(0, "Ties", id="tied:5", **two)]


def rm_row(i: int, domain: str | None = "chat", **changes) -> dict:
    row = {"id": i, "prompt": f"p{i}", "chosen": ["c1", "c2", "c3"], "rejected": ["r1", "r2", "r3"]}
    if domain is not None:
        row["domain"] = domain
    return {**row, **changes}


def write_json(path, rows):
    path.write_text(json.dumps(rows, indent=2))
    return path


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_parquet(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_json_jsonl_gzip_and_parquet_read_the_same_rows(tmp_path, monkeypatch):
    rows = [rb2_row(i) for i in range(5)] + ties_rows()
    monkeypatch.setattr(streams, "CHUNK", 7)  # a JSON list read 7 characters at a time: objects span chunks
    files = [write_json(tmp_path / "a.json", rows), write_jsonl(tmp_path / "b.jsonl", rows)]
    files.append(write_parquet(tmp_path / "c.parquet", rows))
    with gzip.open(tmp_path / "d.json.gz", "wt") as f:
        json.dump(rows, f)
    files.append(tmp_path / "d.json.gz")
    for path in files:
        checked = check_rewardbench2([path])
        read = list(checked)
        assert [r.id for r in read] == [r["id"] for r in rows], path
        assert read[2].answers == ("good answer 2", "bad 2", "worse 2", "worst answer 2")
        assert read[-1].ties_key == ("tied", 5) and checked.meta[-1].num_correct == 2
    folder = tmp_path / "folder"
    folder.mkdir()
    write_jsonl(folder / "first.jsonl", rows[:2])
    write_parquet(folder / "second.parquet", rows[2:])
    sources = [r.source for r in check_rewardbench2([folder])]
    assert (
        sources[1] == f"{folder / 'first.jsonl'} row 2 (line 2)" and sources[2] == f"{folder / 'second.parquet'} row 1"
    )


def test_rows_are_numbered_from_one_with_their_line(tmp_path):
    path = write_json(tmp_path / "rb2.json", [rb2_row(0), rb2_row(1)])
    starts = [n for n, line in enumerate(path.read_text().splitlines(), start=1) if line == "  {"]
    sources = [r.source for r in check_rewardbench2([path])]
    assert sources == [f"{path} row 1 (line {starts[0]})", f"{path} row 2 (line {starts[1]})"]
    path = tmp_path / "rb2.jsonl"
    path.write_text(json.dumps(rb2_row(0)) + "\n\n" + json.dumps(rb2_row(1)) + "\n")
    assert [r.source for r in check_rewardbench2([path])][1] == f"{path} row 2 (line 3)"


BAD_RB2 = [
    ({"chosen": None}, "'chosen' must be a non-empty list of strings (got a NoneType)"),
    ({"rejected": []}, "'rejected' must be a non-empty list of strings (got an empty list)"),
    ({"chosen": "just one"}, "'chosen' must be a non-empty list of strings (got a str)"),
    ({"rejected": ["ok", 3, "x"]}, "'rejected'[1] must be a string"),
    ({"num_correct": 2}, "'num_correct' is 2 but the row has 1 chosen answers"),
    ({"total_completions": 5}, "'total_completions' is 5 but the row has 4 answers"),
    ({"subset": ""}, "'subset' must be a non-empty string"),
    ({"subset": "Ties"}, "'id' of a Ties row must be ref:N or tied:N (got '3')"),
]


@pytest.mark.parametrize(("change", "message"), BAD_RB2)
def test_a_bad_rewardbench2_row_names_the_file_row_and_field(tmp_path, change, message):
    rows = [rb2_row(i) for i in range(5)]
    rows[3] = {**rows[3], **change}
    path = write_jsonl(tmp_path / "rb2.jsonl", rows)
    with pytest.raises(InvalidInputError) as error:
        check_rewardbench2([path])
    assert str(error.value).startswith(f"{path} row 4 (line 4): {message}")


def test_a_missing_column_and_broken_ties_groups_are_named(tmp_path):
    rows = [rb2_row(0), {k: v for k, v in rb2_row(1).items() if k != "prompt"}]
    path = write_json(tmp_path / "rb2.json", rows)
    with pytest.raises(InvalidInputError, match=r"rb2.json row 2 \(line \d+\): missing column 'prompt'"):
        check_rewardbench2([path])
    twice = write_jsonl(tmp_path / "twice.jsonl", [*ties_rows(), ties_rows()[0]])
    with pytest.raises(InvalidInputError, match=r"twice.jsonl row 3 \(line 3\): 'id' ref:5 appears twice"):
        check_rewardbench2([twice])
    ref, tied = ties_rows()
    lonely = {**tied, "chosen": ["a"], "num_correct": 1, "total_completions": 2}
    one = write_jsonl(tmp_path / "one.jsonl", [ref, lonely])
    with pytest.raises(InvalidInputError, match=r"one.jsonl row 2 \(line 2\): 'num_correct' is 1, but a tied row"):
        check_rewardbench2([one])
    check_rewardbench2([write_jsonl(tmp_path / "alone.jsonl", [lonely])])  # no ref row: the spread is never used


BAD_RM = [
    ({"chosen": ["a", "b"]}, "'chosen' must hold exactly 3 answers (got 2)"),
    ({"rejected": ["a", "b", None]}, "'rejected'[2] must be a string (got a NoneType)"),
    ({"domain": "poetry"}, "'domain' is 'poetry', which starts with none of chat, code, math, safety"),
]


@pytest.mark.parametrize(("change", "message"), BAD_RM)
def test_a_bad_rm_bench_row_names_the_file_row_and_field(tmp_path, change, message):
    rows = [rm_row(i) for i in range(3)]
    rows[1] = {**rows[1], **change}
    path = write_json(tmp_path / "total_dataset.json", rows)
    with pytest.raises(InvalidInputError) as error:
        check_rm_bench([path])
    assert str(error.value).startswith(f"{path} row 2 (line ") and message in str(error.value)


def test_rm_bench_domains_from_the_field_or_the_file_name(tmp_path):
    folder = tmp_path / "rm"
    folder.mkdir()
    write_json(folder / "chat_filtered.json", [rm_row(0, None), rm_row(1, None)])
    write_jsonl(folder / "safety-refuse_filtered.jsonl", [rm_row(2, None)])
    write_json(folder / "safety-response_filtered.json", [rm_row(3, None), rm_row(4, "code")])  # the field wins
    checked = check_rm_bench([folder])
    assert checked.meta == ["chat", "chat", "safety", "safety", "code"]
    write_json(tmp_path / "mixed.json", [rm_row(0, "safety-response"), rm_row(1, "math")])
    assert check_rm_bench([tmp_path / "mixed.json"]).meta == ["safety", "math"]
    nameless = write_json(tmp_path / "rows.json", [rm_row(0, None)])
    with pytest.raises(InvalidInputError, match=r"row 1 .*missing column 'domain', and the file name 'rows'"):
        check_rm_bench([nameless])


def test_limit_keeps_ties_pairs_together(tmp_path):
    ties = []
    for n in range(10):
        ref, tied = ties_rows()
        ties += [{**ref, "id": f"ref:{n}"}, {**tied, "id": f"tied:{n}"}]
    checked = check_rewardbench2([write_jsonl(tmp_path / "rb2.jsonl", ties)])
    for seed in range(5):
        taken = checked.take(sample_rewardbench2(checked, 3, seed))
        keys = [m.ties_key for m in taken.meta]
        assert 3 <= len(keys) <= 6
        assert sorted(n for kind, n in keys if kind == "ref") == sorted(n for kind, n in keys if kind == "tied")
        assert [r.ties_key for r in taken] == keys  # the second read yields the rows taken, in order


def test_a_datasets_name_is_read_through_datasets(monkeypatch):
    import datasets

    asked = {}

    def load_dataset(name, split):
        asked.update(name=name, split=split)
        return [rb2_row(0), rb2_row(1)]

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    checked = check_rewardbench2(["allenai/reward-bench-2"])
    assert asked == {"name": "allenai/reward-bench-2", "split": "test"}
    assert [r.source for r in checked] == ["allenai/reward-bench-2 row 1", "allenai/reward-bench-2 row 2"]

    def offline(name, split):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(InvalidInputError, match=r"cannot be loaded as a datasets name .*no network"):
        check_rewardbench2(["allenai/reward-bench-2"])


def test_the_cli_checks_the_whole_file_before_opening_a_model(tmp_path):
    rows = [rb2_row(i) for i in range(50)]
    rows[47] = {**rows[47], "chosen": []}
    path = write_jsonl(tmp_path / "rb2.jsonl", rows)
    missing_model = str(tmp_path / "no-such-model")
    result = runner.invoke(app, ["eval", "rewardbench2", str(path), "-m", missing_model, "-o", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "rb2.jsonl row 48 (line 48): 'chosen' must be a non-empty list" in result.output
    bad = write_json(tmp_path / "chat.json", [rm_row(0, None), rm_row(1, None, rejected=["x"])])
    result = runner.invoke(app, ["eval", "rm-bench", str(bad), "-m", missing_model, "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "chat.json row 2 (line" in result.output and "'rejected'" in result.output
    assert not (tmp_path / "o").exists()


class HashScorer:
    name = "hash"
    pairwise = False

    def score(self, conversations, *, progress=False):
        return ScoreTable(np.array([float(hash(c[-1]["content"]) % 997) for c in conversations]))

    def prefer(self, pairs, *, progress=False):
        raise AssertionError("pointwise")


def peak_memory(path):
    """Peak traced memory of checking and scoring the RewardBench 2 file ``path``."""
    tracemalloc.start()
    try:
        report = evaluate_rewardbench2(HashScorer(), check_rewardbench2([path]), progress=False)
        return report, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_10000_row_file_streams(tmp_path):
    sizes, peaks = [], []
    for words in (20, 120):
        path = tmp_path / f"rb2-{words}.jsonl"
        text = "word " * words
        with path.open("w") as f:
            for i in range(10_000):
                row = rb2_row(i, chosen=[f"{text} {i}"], rejected=[f"{text} {i} {k}" for k in range(3)])
                f.write(json.dumps(row) + "\n")
        report, peak = peak_memory(path)
        assert report.counts == {"Focus": 10_000} and report.answers == 40_000
        sizes.append(path.stat().st_size)
        peaks.append(peak)
    # 20 MB more text costs the few answers in flight, not the file: memory holds the scores
    assert sizes[1] - sizes[0] > 19_000_000
    assert peaks[1] - peaks[0] < (sizes[1] - sizes[0]) / 10 and peaks[1] < sizes[1] / 3, (sizes, peaks)
