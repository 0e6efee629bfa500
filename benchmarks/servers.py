"""Start, probe and stop the HTTP contenders, each in its own process, and read their padding counters.

Each server runs as a child process bound to 127.0.0.1 on a free port, with its output in a log
file (printed if it fails to start). It is stopped by its own PID: SIGTERM, then SIGKILL after a
grace period. Padding counters differ by server: rewardkit exposes Prometheus counters at
``/metrics``; the baselines expose JSON totals at ``/stats``. A kind may carry extra environment
variables: ``rewardkit-before`` (see worktree.py) runs an earlier revision's source by putting its
src/ first on PYTHONPATH.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = ["SERVERS", "RunningServer", "free_port", "start_server"]

BENCH_DIR = Path(__file__).resolve().parent
TOKENS_LINE = re.compile(r'^rewardkit_batch_tokens_total\{kind="(real|padded)"\}\s+(\S+)', re.MULTILINE)


def _metric(text: str, name: str) -> float:
    """An unlabelled sample from Prometheus text (0 if absent)."""
    found = re.search(rf"^{name}\s+(\S+)", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@dataclass(frozen=True)
class ServerKind:
    name: str
    label: str
    program: tuple[str, ...]  # what to run before MODEL_DIR; run with benchmarks/ on PYTHONPATH
    # Extra environment, as (name, value) pairs; a PYTHONPATH here goes first, ahead of benchmarks/.
    env: tuple[tuple[str, str], ...] = ()
    # "rewardkit": /info and Prometheus /metrics; "baseline": JSON /stats.
    api: str = "baseline"

    def command(self, model_dir: Path, port: int, dtype: str, extra_args: Sequence[str] = ()) -> list[str]:
        common = ["--host", "127.0.0.1", "--port", str(port), "--dtype", dtype]
        return [*self.program, str(model_dir), *common, *extra_args]

    def environment(self, base: dict[str, str]) -> dict[str, str]:
        """``base`` plus this kind's variables, with PYTHONPATH = own entry, benchmarks/, then ``base``'s."""
        env = dict(base)
        extra = dict(self.env)
        path = (extra.pop("PYTHONPATH", ""), str(BENCH_DIR), base.get("PYTHONPATH", ""))
        env.update(extra)
        env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
        return env


_PYTHON = sys.executable
SERVERS = {
    "rewardkit": ServerKind(
        "rewardkit", "rewardkit", (str(Path(_PYTHON).with_name("rewardkit")), "serve"), api="rewardkit"
    ),
    "openrlhf": ServerKind("openrlhf", "openrlhf-style", (_PYTHON, "-m", "baselines.openrlhf_style")),
    "batched": ServerKind("batched", "batched-style", (_PYTHON, "-m", "baselines.batched_style")),
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningServer:
    def __init__(self, kind: ServerKind, process: subprocess.Popen, port: int, log_path: Path) -> None:
        self.kind = kind
        self.process = process
        self.port = port
        self.log_path = log_path
        self.base_url = f"http://127.0.0.1:{port}"

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind.label} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.base_url + "/health", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"{self.kind.label} was not ready after {timeout_s:.0f}s:\n{self.log_tail()}")

    def settings(self) -> dict[str, Any]:
        """What the server says it runs with: rewardkit's /info, a baseline's recipe settings and threads."""
        if self.kind.api == "rewardkit":
            info = httpx.get(self.base_url + "/info", timeout=30.0).json()
            keys = ("dtype", "device", "max_batch_tokens", "max_batch_size", "max_wait_ms", "max_padding_ratio")
            return {k: info[k] for k in keys if k in info}
        stats = httpx.get(self.base_url + "/stats", timeout=30.0).json()
        return {**stats["settings"], "torch_threads": stats["torch_threads"]}

    def counters(self) -> dict[str, float]:
        """Totals since the server started: real and padded tokens, batches, seconds in forward passes."""
        if self.kind.api == "rewardkit":
            text = httpx.get(self.base_url + "/metrics", timeout=30.0).text
            tokens = {kind: float(value) for kind, value in TOKENS_LINE.findall(text)}
            return {
                "real_tokens": tokens.get("real", 0.0),
                "padded_tokens": tokens.get("padded", 0.0),
                "batches": _metric(text, "rewardkit_batch_size_count"),
                "forward_seconds": _metric(text, "rewardkit_batch_seconds_sum"),
            }
        stats = httpx.get(self.base_url + "/stats", timeout=30.0).json()
        return {k: float(stats[k]) for k in ("real_tokens", "padded_tokens", "batches", "forward_seconds")}

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM this child by PID, then SIGKILL it if it has not exited after ``grace_s``."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=grace_s)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def start_server(
    kind: ServerKind,
    model_dir: Path,
    dtype: str,
    log_dir: Path,
    extra_args: Sequence[str] = (),
    ready_timeout_s: float = 600.0,
) -> RunningServer:
    """Start ``kind`` on a free port with ``extra_args`` and wait until /health answers 200."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{kind.name}-{port}.log"
    env = kind.environment(dict(os.environ))
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            kind.command(model_dir, port, dtype, extra_args),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    server = RunningServer(kind, process, port, log_path)
    server.wait_ready(ready_timeout_s)
    return server
