"""`rewardkit score` on the local backend killed with SIGKILL before its first commit, then again
mid-way, and run again with the same command: the output is byte for byte that of a run never
interrupted. The Ray backend's run: test_bulk_kill.py (kept apart so that the two can run on
different test workers); every other point a run can die at: tests/integration/test_bulk.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from bulk_kill import FLAGS, command, environment, kill_at, rerun, write_source


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return write_source(tmp_path_factory.mktemp("bulk_kill_local"))


@pytest.fixture(scope="module")
def reference(source, llama_dir) -> Path:
    """The local backend's uninterrupted output."""
    out = source.with_name("reference.jsonl")
    subprocess.run(command(llama_dir, source, out, *FLAGS), check=True, env=environment(), capture_output=True)
    return out


def test_a_killed_local_run_resumes_to_the_uninterrupted_bytes(tmp_path, llama_dir, source, reference):
    out = tmp_path / "out.jsonl"
    cmd = command(llama_dir, source, out, *FLAGS)
    kill_at(cmd, environment(), out, ["before its first commit", "mid-way"], tmp_path)
    rerun(cmd, environment(), out)
    assert out.read_bytes() == reference.read_bytes()
