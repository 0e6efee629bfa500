"""Start, probe and stop the HTTP contenders, each in its own process, and read their padding counters.

Each server runs as a child process bound to 127.0.0.1 on a free port, with its output in a log
file (printed if it fails to start). It is stopped by its own PID: SIGTERM, then SIGKILL after a
grace period. Padding counters differ by server: rewardkit exposes Prometheus counters at
``/metrics``; the baselines expose JSON totals at ``/stats``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["SERVERS", "RunningServer", "free_port", "start_server"]

BENCH_DIR = Path(__file__).resolve().parent
METRIC_LINE = re.compile(r'^rewardkit_batch_tokens_total\{kind="(real|padded)"\}\s+(\S+)', re.MULTILINE)


@dataclass(frozen=True)
class ServerKind:
    name: str
    label: str

    def command(self, model_dir: Path, port: int, dtype: str, batch_size: int) -> list[str]:
        if self.name == "rewardkit":
            exe = Path(sys.executable).with_name("rewardkit")
            return [
                str(exe),
                "serve",
                str(model_dir),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--dtype",
                dtype,
                "--log-level",
                "warning",
            ]
        module = {"openrlhf": "baselines.openrlhf_style", "batched": "baselines.batched_style"}[self.name]
        return [
            sys.executable,
            "-m",
            module,
            str(model_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--dtype",
            dtype,
            "--batch-size",
            str(batch_size),
        ]


SERVERS = {
    "rewardkit": ServerKind("rewardkit", "rewardkit"),
    "openrlhf": ServerKind("openrlhf", "openrlhf-style"),
    "batched": ServerKind("batched", "batched-style"),
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
                raise RuntimeError(
                    f"{self.kind.label} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                if httpx.get(self.base_url + "/health", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"{self.kind.label} was not ready after {timeout_s:.0f}s:\n{self.log_tail()}")

    def token_counters(self) -> tuple[int, int]:
        """(real, padded) tokens through the model since the server started."""
        if self.kind.name == "rewardkit":
            text = httpx.get(self.base_url + "/metrics", timeout=30.0).text
            found = {kind: float(value) for kind, value in METRIC_LINE.findall(text)}
            return int(found.get("real", 0)), int(found.get("padded", 0))
        stats = httpx.get(self.base_url + "/stats", timeout=30.0).json()
        return int(stats["real_tokens"]), int(stats["padded_tokens"])

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
    batch_size: int,
    log_dir: Path,
    ready_timeout_s: float = 600.0,
) -> RunningServer:
    """Start ``kind`` on a free port and wait until /health answers 200."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{kind.name}-{port}.log"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BENCH_DIR), env.get("PYTHONPATH", "")) if p)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            kind.command(model_dir, port, dtype, batch_size),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    server = RunningServer(kind, process, port, log_path)
    server.wait_ready(ready_timeout_s)
    return server
