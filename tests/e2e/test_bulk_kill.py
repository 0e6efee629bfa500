"""`rewardkit score --backend ray` killed with SIGKILL, then run again with the same command (Parquet):
killed before its first commit, then again mid-way, the rerun continues from the record and the
output is byte for byte the output of a run never interrupted (no row lost, none written twice). A
Ray run that started its own Ray leaves no process behind when it ends. The local backend's run:
test_bulk_kill_local.py; every other point a run can die at: tests/integration/test_bulk.py."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from bulk_kill import CHUNK, FLAGS, RAY_FLAGS, command, environment, kill_at, rerun, write_source


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return write_source(tmp_path_factory.mktemp("bulk_kill"))


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
    from rewardkit import RewardModel
    from rewardkit.scoring.bulk import BulkSettings, score_table

    # uninterrupted, on the local backend: both backends run one loop and write the same bytes
    reference = tmp_path / "reference.parquet"
    score_table(RewardModel.load(llama_dir), source, reference, settings=BulkSettings(chunk_rows=CHUNK), progress=False)

    out = tmp_path / "out.parquet"
    cmd = command(llama_dir, source, out, *FLAGS, *RAY_FLAGS)
    kill_at(cmd, environment(RAY_ADDRESS=ray_cluster), out, ["before its first commit", "mid-way"], tmp_path)
    session = rerun(cmd, environment(), out)  # without RAY_ADDRESS: it starts a Ray of its own
    assert out.read_bytes() == reference.read_bytes()
    deadline = time.monotonic() + 60
    while left := session_processes(session):
        assert time.monotonic() < deadline, f"the run's Ray processes outlived it: {left}"
        time.sleep(0.1)
