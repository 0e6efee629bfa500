"""`rewardkit score --backend ray` on a local 2-CPU Ray: two actors, each with its own loaded model,
give the local backend's output row for row; bad rows are skipped into the errors file or stop the
run with their reason, committed so that a rerun (on either backend: one record, one resume)
continues it; a changed input is refused before any actor starts; the actors are gone when a run
ends or fails; a pool larger than the cluster is refused instead of hanging. Killed runs:
tests/e2e/test_bulk_kill.py."""

from __future__ import annotations

import json
import time

import pytest
from test_bulk import read_output, rows_of, write_input
from typer.testing import CliRunner

from rewardkit import RewardModel
from rewardkit.cli import app
from rewardkit.config import ModelConfig
from rewardkit.errors import InvalidInputError, ModelLoadError, RewardKitError
from rewardkit.scoring.bulk import BulkSettings, Columns, score_table
from rewardkit.scoring.ray_bulk import RayPool, score_table_on_ray

ray = pytest.importorskip("ray")
POOL = RayPool(replicas=2, cpus_per_replica=0.5)


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def texts():
    import tiny_models

    return [t[: 30 + 11 * i] for i, t in enumerate(tiny_models.hh_texts(40))]


def wait_for_the_actors_to_go():
    """The pool's CPUs are back once its actors are gone (Ray frees them a moment after the kill)."""
    deadline = time.monotonic() + 60
    while ray.available_resources().get("CPU", 0.0) < 2.0:
        assert time.monotonic() < deadline, f"actors still hold CPUs: {ray.available_resources()}"
        time.sleep(0.05)


def test_two_actors_give_the_local_backends_rows_errors_and_manifest(tmp_path, llama_dir, texts):
    good = [json.dumps(r) for r in rows_of(texts)]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join([*good[:2], '{"id": 100, "txt": "typo"}', *good[2:]]) + "\n")
    runs = {}
    for backend, extra in (("ray", ["--ray-replicas", "2", "--ray-cpus-per-replica", "0.5"]), ("local", [])):
        out = tmp_path / f"{backend}.jsonl"
        args = ["score", str(llama_dir), str(source), "-o", str(out), "--backend", backend, "--chunk-rows", "16"]
        result = CliRunner().invoke(app, [*args, *extra, "--on-error", "skip"])
        assert result.exit_code == 0, result.output
        assert f"scored {len(texts)} rows (1 skipped" in result.output
        errors = [json.loads(line) for line in (tmp_path / f"{backend}.jsonl.errors.jsonl").read_text().splitlines()]
        manifest = json.loads((tmp_path / f"{backend}.jsonl.manifest.json").read_text())
        runs[backend] = (read_output(out), errors, manifest)
    wait_for_the_actors_to_go()
    (got, ray_errors, ray_manifest), (want, local_errors, local_manifest) = runs["ray"], runs["local"]
    assert [r["id"] for r in got] == [r["id"] for r in want] == list(range(len(texts)))
    assert [r["score"] for r in got] == pytest.approx([r["score"] for r in want], abs=1e-5)
    assert [set(r) for r in got] == [set(r) for r in want]
    assert ray_errors == local_errors and len(ray_errors) == 1 and ray_errors[0]["input"]["id"] == 100
    assert "no 'text', 'query' or 'messages' value" in ray_errors[0]["error"]
    assert set(ray_manifest) == set(local_manifest)  # one manifest format, one identity
    assert (ray_manifest["backend"], local_manifest["backend"]) == ("ray", "local")
    for key in ("input", "model", "settings", "format", "dtype", "rows", "scored", "skipped"):
        assert ray_manifest[key] == local_manifest[key], key


def test_a_stopped_run_continues_on_the_other_backend_and_its_actors_are_gone(tmp_path, llama_dir, texts):
    good = [json.dumps(r) for r in rows_of(texts[:9])]
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("\n".join([*good[:5], '{"body": "no text column"}', *good[5:]]) + "\n")
    stop = BulkSettings(chunk_rows=2)
    with pytest.raises(InvalidInputError, match=r"in\.jsonl:6: no 'text', 'query' or 'messages' value.*5 rows before"):
        score_table_on_ray(str(llama_dir), ModelConfig(), source, out, Columns(), stop, POOL, progress=False)
    wait_for_the_actors_to_go()
    assert [r["id"] for r in read_output(out)] == list(range(5))
    assert json.loads((tmp_path / "out.jsonl.progress.json").read_text())["rows_done"] == 5

    skip = BulkSettings(chunk_rows=2, on_error="skip")
    resumed = score_table(RewardModel.load(llama_dir), source, out, settings=skip, progress=False)
    assert (resumed.resumed_at, resumed.scored, resumed.skipped) == (5, 9, 1)
    assert [r["id"] for r in read_output(out)] == list(range(9))


def test_a_changed_input_is_refused_before_any_actor_starts_and_a_load_error_is_its_own(tmp_path, llama_dir, texts):
    write_input(tmp_path / "in.jsonl", rows_of(texts[:4]))
    out = tmp_path / "out.jsonl"
    score_table(RewardModel.load(llama_dir), tmp_path / "in.jsonl", out, progress=False)
    write_input(tmp_path / "in.jsonl", rows_of(texts[:5]))
    missing = str(tmp_path / "no-such-model")  # an actor would fail to load it: none is started
    with pytest.raises(InvalidInputError, match=r"finished run .* input\.sha256 .*--restart"):
        score_table_on_ray(missing, ModelConfig(), tmp_path / "in.jsonl", out, Columns(), BulkSettings(), POOL)
    with pytest.raises(InvalidInputError, match=r"settings\.columns\.text: was None, now 'text'"):
        score_table_on_ray(
            missing, ModelConfig(), tmp_path / "in.jsonl", out, Columns(text="text"), BulkSettings(), POOL
        )
    restart = BulkSettings(overwrite=True)  # now the actors start, and say why they cannot load it
    with pytest.raises(ModelLoadError, match="no-such-model: not a folder"):
        score_table_on_ray(missing, ModelConfig(), tmp_path / "in.jsonl", out, Columns(), restart, POOL)
    wait_for_the_actors_to_go()


def test_a_pool_larger_than_the_cluster_is_refused(tmp_path, llama_dir):
    write_input(tmp_path / "in.jsonl", [{"text": "fine"}])
    with pytest.raises(RewardKitError, match="lower --ray-replicas or --ray-cpus-per-replica"):
        score_table_on_ray(
            str(llama_dir),
            ModelConfig(),
            tmp_path / "in.jsonl",
            tmp_path / "o.jsonl",
            Columns(),
            BulkSettings(),
            RayPool(replicas=3, cpus_per_replica=1.0),
        )
    assert not (tmp_path / "o.jsonl").exists() and not (tmp_path / "o.jsonl.progress.json").exists()
