"""`rewardkit score` in bulk: every input and output format, column choices, chunked commits that a
rerun resumes from to the bytes of an uninterrupted run (whenever the run died: before its first
commit, mid-way, after output written past the last commit, while finishing), refusal of a changed
run naming what changed, and bad rows stopped at (named) or skipped (kept in OUT.errors.jsonl)."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest
import tiny_models
from batch_checks import TOL
from typer.testing import CliRunner

from rewardkit import RewardModel
from rewardkit.cli import app
from rewardkit.data.tables import open_sink
from rewardkit.errors import InvalidInputError
from rewardkit.scoring import bulk
from rewardkit.scoring.bulk import BulkSettings, Columns, LocalScorer, score_table, score_table_with

CONV = [{"role": "user", "content": "hi there"}, {"role": "assistant", "content": "hello, how can I help?"}]


@pytest.fixture(scope="module")
def model(checkpoint) -> RewardModel:
    return RewardModel.load(checkpoint("llama"))


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return [t[: 20 + 17 * i] for i, t in enumerate(tiny_models.hh_texts(23))]


def rows_of(texts: list[str]) -> list[dict]:
    return [{"id": i, "text": t, "source": f"s{i % 3}"} for i, t in enumerate(texts)]


def write_input(path: Path, rows: list[dict]) -> Path:
    name = path.name
    if name.endswith((".jsonl", ".jsonl.gz")):
        data = "".join(json.dumps(r) + "\n" for r in rows).encode()
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    elif name.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=5)
    elif name.endswith(".csv"):
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        import datasets

        datasets.Dataset.from_list(rows).save_to_disk(str(path))
    return path


def read_output(path: Path) -> list[dict]:
    name = path.name
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if name.endswith(".csv"):
        with path.open(newline="") as f:
            return list(csv.DictReader(f))
    data = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    return [json.loads(line) for line in data.decode().splitlines()]


SMALL = BulkSettings(chunk_rows=4)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("in.jsonl", "out.jsonl"),
        ("in.jsonl.gz", "out.jsonl.gz"),
        ("in.parquet", "out.parquet"),
        ("in.csv", "out.csv"),
        ("in_dataset", "out.parquet"),
        ("in.parquet", "out.jsonl"),
    ],
)
def test_every_format_keeps_rows_columns_and_order_and_scores_them_exactly(tmp_path, model, texts, source, target):
    rows = rows_of(texts)
    summary = score_table(
        model, write_input(tmp_path / source, rows), tmp_path / target, settings=SMALL, progress=False
    )
    out = read_output(tmp_path / target)
    assert summary.complete and summary.scored == len(rows) == len(out)
    as_text = source.endswith(".csv")  # CSV holds text: the id comes back as "0", "1", ...
    assert [r["id"] for r in out] == [str(r["id"]) if as_text else r["id"] for r in rows]
    assert [r["source"] for r in out] == [r["source"] for r in rows]
    assert [float(r["score"]) for r in out] == pytest.approx(model.score(texts), abs=TOL)
    assert all(str(r["truncated"]) in ("False", "false") or r["truncated"] is False for r in out)
    manifest = json.loads((tmp_path / f"{target}.manifest.json").read_text())
    assert manifest["rows"] == manifest["scored"] == len(rows) and manifest["skipped"] == 0
    assert manifest["model"]["format"] == "hf-sequence-classification" and manifest["versions"]["torch"]
    assert not (tmp_path / f"{target}.progress.json").exists()
    assert not (tmp_path / f"{target}.errors.jsonl").exists()


def test_prompt_and_response_columns_are_templated_as_a_conversation(tmp_path, model):
    rows = [{"q": CONV[0]["content"], "a": CONV[1]["content"]}, {"q": "2+2?", "a": "4"}]
    write_input(tmp_path / "in.jsonl", rows)
    score_table(model, tmp_path / "in.jsonl", tmp_path / "out.jsonl", Columns(prompt="q", response="a"), progress=False)
    expected = model.score(
        [[{"role": "user", "content": r["q"]}, {"role": "assistant", "content": r["a"]}] for r in rows]
    )
    assert [r["score"] for r in read_output(tmp_path / "out.jsonl")] == pytest.approx(expected, abs=TOL)


def test_named_text_and_messages_columns(tmp_path, model, texts):
    rows = [{"body": texts[0], "chat": CONV}]
    write_input(tmp_path / "in.jsonl", rows)
    score_table(model, tmp_path / "in.jsonl", tmp_path / "t.jsonl", Columns(text="body"), progress=False)
    score_table(model, tmp_path / "in.jsonl", tmp_path / "m.jsonl", Columns(messages="chat"), progress=False)
    assert read_output(tmp_path / "t.jsonl")[0]["score"] == pytest.approx(model.score([texts[0]])[0], abs=TOL)
    assert read_output(tmp_path / "m.jsonl")[0]["score"] == pytest.approx(model.score([CONV])[0], abs=TOL)
    with pytest.raises(InvalidInputError, match="go together"):
        Columns(prompt="q")


@pytest.mark.parametrize("target", ["out.jsonl", "out.jsonl.gz", "out.parquet", "out.csv"])
def test_output_written_after_the_last_commit_is_dropped_on_resume(tmp_path, model, texts, target):
    """A process killed after writing a chunk but before committing it: the rerun drops that chunk's
    bytes (or part file) and writes it again, so no row is lost or doubled."""
    write_input(tmp_path / "in.jsonl", rows_of(texts))
    out = tmp_path / target
    score_table(model, tmp_path / "in.jsonl", out, settings=SMALL, progress=False)
    expected = read_output(out)
    manifest = tmp_path / f"{target}.manifest.json"
    identity = {k: json.loads(manifest.read_text())[k] for k in ("input", "model", "settings")}
    out.unlink()
    manifest.unlink()

    sink = open_sink(out)
    sink.write(expected[:4])
    sink.write(expected[4:8])
    state = sink.commit()
    sink.write(expected[8:10])  # on disk (or in the file's buffer), never committed
    del sink  # the process dies here
    progress = {"rows_done": 8, "scored": 8, "skipped": 0, "truncated": 0, "sink": state, "errors_bytes": 0}
    (tmp_path / f"{target}.progress.json").write_text(json.dumps({**identity, **progress}))

    resumed = score_table(model, tmp_path / "in.jsonl", out, settings=SMALL, progress=False)
    assert resumed.resumed_at == 8 and resumed.rows == len(expected) and resumed.scored == len(expected)
    assert read_output(out) == expected


def test_a_changed_model_input_or_setting_is_refused_naming_what_differs_unless_restart(
    tmp_path, model, checkpoint, texts
):
    write_input(tmp_path / "in.jsonl", rows_of(texts))
    out = tmp_path / "out.jsonl"
    score_table(model, tmp_path / "in.jsonl", out, progress=False)
    again = score_table(model, tmp_path / "in.jsonl", out, progress=False)
    assert again.complete and again.seconds == 0.0  # already done: nothing rescored
    other = RewardModel.load(checkpoint("qwen2"))
    with pytest.raises(InvalidInputError, match=r"holds a finished run .* model\.path: was '.+', now '.+'"):
        score_table(other, tmp_path / "in.jsonl", out, progress=False)
    with pytest.raises(InvalidInputError, match=r"settings\.columns\.text: was None, now 'text'.*--restart"):
        score_table(model, tmp_path / "in.jsonl", out, Columns(text="text"), progress=False)
    write_input(tmp_path / "in.jsonl", rows_of(texts[:5]))
    with pytest.raises(InvalidInputError, match=r"input\.sha256 \(the input's size, modification time or content"):
        score_table(model, tmp_path / "in.jsonl", out, progress=False)
    summary = score_table(model, tmp_path / "in.jsonl", out, settings=BulkSettings(overwrite=True), progress=False)
    assert summary.scored == 5 and len(read_output(out)) == 5
    (tmp_path / "foreign.jsonl").write_text("{}\n")
    with pytest.raises(InvalidInputError, match="not from rewardkit score"):
        score_table(model, tmp_path / "in.jsonl", tmp_path / "foreign.jsonl", progress=False)


def test_the_cli_refuses_a_changed_run_with_exit_2_before_loading_the_model_and_restart_starts_over(
    tmp_path, llama_dir, texts
):
    write_input(tmp_path / "in.jsonl", rows_of(texts[:6]))
    out = tmp_path / "out.jsonl"
    args = ["score", str(llama_dir), str(tmp_path / "in.jsonl"), "-o", str(out)]
    assert CliRunner().invoke(app, args).exit_code == 0
    refused = CliRunner().invoke(app, [*args, "--text-field", "source"])
    assert refused.exit_code == 2
    assert "settings.columns.text: was None, now 'source'" in refused.output and "--restart" in refused.output
    write_input(tmp_path / "in.jsonl", rows_of(texts[:4]))
    missing_model = CliRunner().invoke(app, ["score", str(tmp_path / "no-model"), *args[2:]])
    assert missing_model.exit_code == 2 and "input.sha256" in missing_model.output  # checked before loading
    restarted = CliRunner().invoke(app, [*args, "--restart"])
    assert restarted.exit_code == 0, restarted.output
    assert [r["id"] for r in read_output(out)] == list(range(4))


class Killed(BaseException):
    """Stands for a SIGKILL: nothing after it runs (not even an `except Exception`)."""


class DiesAfter:
    """A ChunkScorer that scores like ``inner`` and dies when chunk number ``chunks`` of this run is
    collected, before it is written (0: before the first commit)."""

    def __init__(self, inner, chunks: int) -> None:
        self.inner, self.chunks = inner, chunks
        self.backend, self.in_flight = inner.backend, inner.in_flight

    def describe(self):
        return self.inner.describe()

    def submit(self, rows):
        return self.inner.submit(rows)

    def result(self, handle):
        if self.chunks == 0:
            raise Killed
        self.chunks -= 1
        return self.inner.result(handle)


@pytest.mark.parametrize("target", ["out.jsonl", "out.jsonl.gz", "out.parquet", "out.csv"])
def test_a_run_killed_before_its_first_commit_then_mid_way_resumes_to_the_uninterrupted_bytes(
    tmp_path, model, texts, target
):
    write_input(tmp_path / "in.jsonl", rows_of(texts))
    reference = tmp_path / f"reference_{target}"
    score_table(model, tmp_path / "in.jsonl", reference, settings=SMALL, progress=False)
    out, progress = tmp_path / target, tmp_path / f"{target}.progress.json"

    with pytest.raises(Killed):
        score_table_with(DiesAfter(LocalScorer(model, Columns()), 0), tmp_path / "in.jsonl", out, SMALL, progress=False)
    assert json.loads(progress.read_text())["rows_done"] == 0
    assert not (tmp_path / f"{target}.manifest.json").exists()
    with pytest.raises(Killed):
        score_table_with(DiesAfter(LocalScorer(model, Columns()), 2), tmp_path / "in.jsonl", out, SMALL, progress=False)
    assert json.loads(progress.read_text())["rows_done"] == 8

    resumed = score_table(model, tmp_path / "in.jsonl", out, settings=SMALL, progress=False)
    assert (resumed.resumed_at, resumed.scored, resumed.complete) == (8, len(texts), True)
    assert out.read_bytes() == reference.read_bytes()
    assert not progress.exists() and not (tmp_path / f"{target}.parts").exists()


def test_an_empty_output_without_a_record_is_scored_into(tmp_path, model, texts):
    """What a run killed while the model loaded left behind before records came first."""
    write_input(tmp_path / "in.jsonl", rows_of(texts[:5]))
    (tmp_path / "out.jsonl").write_bytes(b"")
    summary = score_table(model, tmp_path / "in.jsonl", tmp_path / "out.jsonl", progress=False)
    assert summary.complete and [r["id"] for r in read_output(tmp_path / "out.jsonl")] == list(range(5))


@pytest.mark.parametrize("dies", ["before the manifest", "after the manifest"])
def test_a_run_killed_while_finishing_its_parquet_output_finishes_on_rerun(tmp_path, model, texts, monkeypatch, dies):
    """The parts stay until the manifest is written: a rerun joins them again, or tidies up after a
    finished run."""
    write_input(tmp_path / "in.jsonl", rows_of(texts))
    reference, out = tmp_path / "reference.parquet", tmp_path / "out.parquet"
    score_table(model, tmp_path / "in.jsonl", reference, settings=SMALL, progress=False)
    write_json = bulk._write_json_durably

    def die(*args):
        raise Killed

    def die_at_the_manifest(path, value):
        if path.name.endswith(".manifest.json"):
            raise Killed
        write_json(path, value)

    with monkeypatch.context() as patched:
        if dies == "before the manifest":
            patched.setattr(bulk, "_write_json_durably", die_at_the_manifest)
        else:
            patched.setattr(bulk, "tidy_output", die)
        with pytest.raises(Killed):
            score_table(model, tmp_path / "in.jsonl", out, settings=SMALL, progress=False)
    assert out.exists() and (tmp_path / "out.parquet.parts").exists()

    again = score_table(model, tmp_path / "in.jsonl", out, settings=SMALL, progress=False)
    assert again.complete and again.scored == len(texts)
    assert out.read_bytes() == reference.read_bytes()
    assert not (tmp_path / "out.parquet.parts").exists() and not (tmp_path / "out.parquet.progress.json").exists()


BAD_LINES = [
    ("not json", ":7: not JSON"),
    ('{"txt": "typo"}', ":7: no 'text', 'query' or 'messages' value"),
    ('{"messages": [{"role": "user", "content": "only"}]}', ":7: "),
    ("[1, 2]", ":7: not a JSON object"),
]


@pytest.mark.parametrize(("line", "fragment"), BAD_LINES)
def test_a_bad_row_stops_the_run_naming_it_with_every_row_before_it_committed(tmp_path, model, texts, line, fragment):
    good = [json.dumps(r) for r in rows_of(texts[:10])]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join([*good[:6], line, *good[6:]]) + "\n")
    out = tmp_path / "out.jsonl"
    with pytest.raises(InvalidInputError, match=fragment) as caught:
        score_table(model, source, out, settings=SMALL, progress=False)
    assert "6 rows before it are committed" in str(caught.value) and "--on-error skip" in str(caught.value)
    assert [r["id"] for r in read_output(out)] == list(range(6))
    resumed = score_table(model, source, out, settings=BulkSettings(chunk_rows=4, on_error="skip"), progress=False)
    assert (resumed.resumed_at, resumed.scored, resumed.skipped) == (6, 10, 1)
    assert [r["id"] for r in read_output(out)] == list(range(10))


def test_skipped_rows_go_to_the_errors_file_and_a_fixed_input_cannot_silently_continue(tmp_path, model, texts):
    good = [json.dumps(r) for r in rows_of(texts[:10])]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join([*good[:3], "not json", *good[3:7], '{"txt": 1}', *good[7:]]) + "\n")
    out = tmp_path / "out.jsonl"
    summary = score_table(model, source, out, settings=BulkSettings(chunk_rows=4, on_error="skip"), progress=False)
    assert (summary.scored, summary.skipped) == (10, 2)
    assert [r["id"] for r in read_output(out)] == list(range(10))
    errors = [json.loads(line) for line in (tmp_path / "out.jsonl.errors.jsonl").read_text().splitlines()]
    assert [e["where"] for e in errors] == [f"{source}:4", f"{source}:9"]
    assert errors[1]["input"] == {"txt": 1}
    manifest = json.loads((tmp_path / "out.jsonl.manifest.json").read_text())
    assert manifest["skipped"] == 2 and manifest["errors_file"].endswith("out.jsonl.errors.jsonl")


def test_a_stopped_run_continues_after_the_row_is_fixed_only_with_restart(tmp_path, model, texts):
    """Fixing the input changes its fingerprint: the half-done output is not silently mixed."""
    good = [json.dumps(r) for r in rows_of(texts[:8])]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join([*good[:5], "oops", *good[5:]]) + "\n")
    out = tmp_path / "out.jsonl"
    with pytest.raises(InvalidInputError):
        score_table(model, source, out, settings=SMALL, progress=False)
    source.write_text("\n".join(good) + "\n")
    with pytest.raises(InvalidInputError, match=r"interrupted run .* input\.sha256 .*--restart"):
        score_table(model, source, out, settings=SMALL, progress=False)
    score_table(model, source, out, settings=BulkSettings(chunk_rows=4, overwrite=True), progress=False)
    assert [r["id"] for r in read_output(out)] == list(range(8))


def test_unknown_formats_are_named(tmp_path, model):
    (tmp_path / "in.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="unknown table format"):
        score_table(model, tmp_path / "in.txt", tmp_path / "out.jsonl", progress=False)
    write_input(tmp_path / "in.jsonl", [{"text": "x"}])
    with pytest.raises(InvalidInputError, match="unknown table format"):
        score_table(model, tmp_path / "in.jsonl", tmp_path / "out.xlsx", progress=False)
