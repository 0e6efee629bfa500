"""`rewardkit score` killed with SIGKILL, then run again with the same command, on both backends (JSON
Lines here, Parquet on Ray): killed before its first commit, then again mid-way, the rerun continues
from the record and the output is byte for byte the output of a run never interrupted (no row lost,
none written twice). A Ray run that started its own Ray leaves no process behind when it ends.
Every other point a run can die at: tests/integration/test_bulk.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tiny_models

ROWS = 150
CHUNK = 30
FLAGS = ("--chunk-rows", str(CHUNK))
"""Five chunks of a few tenths of a second each on 2 cores: long enough to kill a run inside any of them."""
RAY_FLAGS = ("--backend", "ray", "--actors", "2", "--cpus-per-actor", "0.5")


def command(model, source, target, *extra: str) -> list[str]:
    return [sys.executable, "-m", "rewardkit.cli", "score", str(model), str(source), "-o", str(target), *extra]


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return {**env, "TQDM_DISABLE": "1", **extra}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bulk_kill") / "in.jsonl"
    texts = [t[:400] for t in tiny_models.hh_texts(ROWS)]
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    return path


@pytest.fixture(scope="module")
def reference(source, llama_dir) -> Path:
    """The local backend's uninterrupted output."""
    out = source.with_name("reference.jsonl")
    subprocess.run(command(llama_dir, source, out, *FLAGS), check=True, env=environment(), capture_output=True)
    return out


def kill_when(cmd: list[str], env: dict[str, str], target: Path, ready, log: Path) -> int:
    """Start ``cmd``, SIGKILL it as soon as ``ready(rows_done)`` holds for its progress record, and
    return the rows it had committed when it was seen."""
    progress = target.with_name(target.name + ".progress.json")
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                done = json.loads(progress.read_text())["rows_done"]
            except (OSError, ValueError, KeyError):
                done = None
            if done is not None and ready(done):
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                assert json.loads(progress.read_text())["rows_done"] < ROWS
                return done
            time.sleep(0.005)
        raise AssertionError(f"the run ended (or hung) before it could be killed: {log.read_text()[-2000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


KILLS = {
    "before its first commit": lambda done: done == 0,
    "mid-way": lambda done: CHUNK <= done < ROWS - CHUNK,
}


def kill_at(cmd: list[str], env: dict[str, str], out: Path, kills: list[str], tmp_path: Path) -> None:
    """Run ``cmd`` once per kill point, each run continuing the last and killed at its point."""
    for name in kills:
        seen = kill_when(cmd, env, out, KILLS[name], tmp_path / "stderr.txt")
        assert KILLS[name](seen), (name, seen)
        assert not out.with_name(out.name + ".manifest.json").exists()


def rerun(cmd: list[str], env: dict[str, str], out: Path) -> int:
    """The same command once more, in a session of its own, to the end; returns that session's id."""
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    assert "resumed at row" in stdout
    assert not out.with_name(out.name + ".progress.json").exists()
    return proc.pid


def test_a_killed_local_run_resumes_to_the_uninterrupted_bytes(tmp_path, llama_dir, source, reference):
    out = tmp_path / "out.jsonl"
    cmd = command(llama_dir, source, out, *FLAGS)
    kill_at(cmd, environment(), out, ["before its first commit", "mid-way"], tmp_path)
    rerun(cmd, environment(), out)
    assert out.read_bytes() == reference.read_bytes()


def session_processes(sid: int) -> list[str]:
    """The processes of session ``sid`` still running (Linux /proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        if proc.name.isdigit() and int(stat[stat.rindex(")") + 2 :].split()[3]) == sid:
            found.append(f"{proc.name} {stat[stat.index('(') : stat.rindex(')') + 1]}")
    return found


@pytest.fixture(scope="module")
def ray_cluster():
    """One 2-CPU Ray for the killed runs to connect to (each SIGKILL takes its driver's actors with it)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def test_a_killed_ray_run_resumes_to_the_uninterrupted_bytes_and_its_own_ray_stops(
    tmp_path, llama_dir, source, ray_cluster
):
    from rewardkit.config import ModelConfig
    from rewardkit.scoring.bulk import BulkSettings, Columns
    from rewardkit.scoring.ray_bulk import RayPool, score_table_on_ray

    reference = tmp_path / "reference.parquet"  # uninterrupted, on the same cluster, actors and chunks
    pool, settings = RayPool(actors=2, cpus_per_actor=0.5), BulkSettings(chunk_rows=CHUNK)
    score_table_on_ray(str(llama_dir), ModelConfig(), source, reference, Columns(), settings, pool, progress=False)

    out = tmp_path / "out.parquet"
    cmd = command(llama_dir, source, out, *FLAGS, *RAY_FLAGS)
    kill_at(cmd, environment(RAY_ADDRESS=ray_cluster), out, ["before its first commit", "mid-way"], tmp_path)
    session = rerun(cmd, environment(), out)  # without RAY_ADDRESS: it starts a Ray of its own
    assert out.read_bytes() == reference.read_bytes()
    deadline = time.monotonic() + 60
    while left := session_processes(session):
        assert time.monotonic() < deadline, f"the run's Ray processes outlived it: {left}"
        time.sleep(0.1)
