"""`rewardkit score --backend ray` on a local 2-CPU Ray: two actors, each with its own loaded model,
give the local backend's output row for row; bad rows are skipped into the errors file or stop the
run with their reason; a pool that would starve the reader is refused instead of hanging."""

from __future__ import annotations

import json

import pytest
from test_bulk import read_output, rows_of, write_input
from typer.testing import CliRunner

from rewardkit import RewardModel
from rewardkit.cli import app
from rewardkit.config import ModelConfig
from rewardkit.errors import InvalidInputError, RewardKitError
from rewardkit.scoring.bulk import BulkSettings, Columns, score_table
from rewardkit.scoring.ray_bulk import RayPool, score_table_on_ray

ray = pytest.importorskip("ray")
POOL = RayPool(actors=2, cpus_per_actor=0.5)


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def texts():
    import tiny_models

    return [t[: 30 + 11 * i] for i, t in enumerate(tiny_models.hh_texts(40))]


@pytest.mark.parametrize(("source", "target"), [("in.jsonl", "out.jsonl"), ("in.parquet", "out.parquet")])
def test_two_actors_give_the_local_backends_rows_in_order(tmp_path, llama_dir, texts, source, target):
    write_input(tmp_path / source, rows_of(texts))
    local = tmp_path / f"local_{target}"
    score_table(RewardModel.load(llama_dir), tmp_path / source, local, progress=False)
    summary = score_table_on_ray(
        str(llama_dir), ModelConfig(), tmp_path / source, tmp_path / target, Columns(), BulkSettings(), POOL
    )
    assert summary.scored == len(texts)
    got, want = read_output(tmp_path / target), read_output(local)
    assert [r["id"] for r in got] == [r["id"] for r in want] == list(range(len(texts)))
    assert [r["score"] for r in got] == pytest.approx([r["score"] for r in want], abs=1e-5)
    assert [set(r) for r in got] == [set(r) for r in want]


def test_the_cli_skips_bad_rows_into_the_errors_file(tmp_path, llama_dir, texts):
    good = [json.dumps(r) for r in rows_of(texts[:6])]
    (tmp_path / "in.jsonl").write_text("\n".join([*good[:2], '{"id": 100, "txt": "typo"}', *good[2:]]) + "\n")
    out = tmp_path / "out.jsonl"
    args = ["score", str(llama_dir), str(tmp_path / "in.jsonl"), "-o", str(out), "--backend", "ray"]
    result = CliRunner().invoke(app, [*args, "--actors", "2", "--cpus-per-actor", "0.5", "--on-error", "skip"])
    assert result.exit_code == 0, result.output
    assert "scored 6 rows (1 skipped" in result.output
    assert [r["id"] for r in read_output(out)] == list(range(6))
    errors = [json.loads(line) for line in (tmp_path / "out.jsonl.errors.jsonl").read_text().splitlines()]
    assert len(errors) == 1 and "no 'text', 'query' or 'messages' value" in errors[0]["error"]
    assert errors[0]["input"]["id"] == 100


def test_a_bad_row_stops_the_run_with_its_reason(tmp_path, llama_dir):
    write_input(tmp_path / "in.jsonl", [{"text": "fine"}, {"body": "no text column"}])
    with pytest.raises(InvalidInputError, match="no 'text', 'query' or 'messages' value"):
        score_table_on_ray(
            str(llama_dir), ModelConfig(), tmp_path / "in.jsonl", tmp_path / "o.jsonl", Columns(), BulkSettings(), POOL
        )


def test_a_pool_that_leaves_no_cpu_for_reading_is_refused(tmp_path, llama_dir):
    write_input(tmp_path / "in.jsonl", [{"text": "fine"}])
    with pytest.raises(RewardKitError, match="lower --actors or --cpus-per-actor"):
        score_table_on_ray(
            str(llama_dir),
            ModelConfig(),
            tmp_path / "in.jsonl",
            tmp_path / "o.jsonl",
            Columns(),
            BulkSettings(),
            RayPool(actors=2, cpus_per_actor=1.0),
        )
