"""SIGKILL-and-rerun helpers shared by the bulk kill tests (tests/e2e/test_bulk_kill*.py): the
command, its environment, killing a run at a point of its progress record, and the rerun to the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import tiny_models

ROWS = 150
CHUNK = 30
FLAGS = ("--chunk-rows", str(CHUNK))
"""Five chunks of a few tenths of a second each on 2 cores: long enough to kill a run inside any of them."""
RAY_FLAGS = ("--backend", "ray", "--ray-replicas", "2", "--ray-cpus-per-replica", "0.5")


def command(model, source, target, *extra: str) -> list[str]:
    return [sys.executable, "-m", "rewardkit.cli", "score", str(model), str(source), "-o", str(target), *extra]


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return {**env, "TQDM_DISABLE": "1", **extra}


def write_source(folder: Path) -> Path:
    """The input both backends score: ROWS short real dialogues as JSON Lines."""
    path = folder / "in.jsonl"
    texts = [t[:400] for t in tiny_models.hh_texts(ROWS)]
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    return path


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
