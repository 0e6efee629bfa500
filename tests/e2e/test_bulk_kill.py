"""`rewardkit score` killed with SIGKILL mid-run, then run again with the same command: the output is
row for row the output of a run never interrupted (no row lost, none written twice)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import tiny_models


def command(model, source, target, *extra: str) -> list[str]:
    return [sys.executable, "-m", "rewardkit.cli", "score", str(model), str(source), "-o", str(target), *extra]


@pytest.mark.parametrize("target", ["out.jsonl", "out.parquet"])
def test_a_run_killed_mid_way_resumes_to_the_uninterrupted_output(tmp_path, llama_dir, target):
    texts = [t[:400] for t in tiny_models.hh_texts(200)]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    flags = ("--chunk-rows", "3", "--max-batch-tokens", "64")
    env = {**os.environ, "TQDM_DISABLE": "1"}

    reference = tmp_path / f"reference{target[3:]}"
    subprocess.run(command(llama_dir, source, reference, *flags), check=True, env=env, capture_output=True)

    out = tmp_path / target
    progress = tmp_path / f"{target}.progress.json"
    proc = subprocess.Popen(command(llama_dir, source, out, *flags), env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            done = json.loads(progress.read_text())["rows_done"]
        except (OSError, ValueError, KeyError):
            done = 0
        if done >= 30:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 30 <= json.loads(progress.read_text())["rows_done"] < len(texts)

    rerun = subprocess.run(command(llama_dir, source, out, *flags), env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert "resumed at row" in rerun.stdout
    if target.endswith(".parquet"):
        import pyarrow.parquet as pq

        assert pq.read_table(out).to_pylist() == pq.read_table(reference).to_pylist()
    else:
        assert out.read_text() == reference.read_text()
    assert not progress.exists()
