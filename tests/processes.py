"""Real servers on 127.0.0.1 for tests: `rewardkit serve` processes (stopped by PID) and ASGI apps in a thread."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx

__all__ = [
    "app_in_thread",
    "free_port",
    "launch_server",
    "start_server",
    "start_servers",
    "stop_server",
    "wait_until_serving",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    model: str | None,
    *args: str,
    env: dict | None = None,
    ready_timeout: float = 120.0,
    port: int | None = None,
    forward_process: bool = False,
):
    """A `rewardkit serve` process on 127.0.0.1 (``port``, else a free one), once it answers /health;
    ``model`` None serves the default (builtin), or with --reward-fn the reward functions alone.

    The forward runs in the server's own process unless ``forward_process``: the server's default
    on CPU (a second process that loads the model again) costs seconds of CPU per start, and the
    suite starts many servers; test_forward_process.py and the built-in model's e2e test run it."""
    launched = launch_server(model, *serve_flags(args, forward_process), env=env, port=port)
    return wait_until_serving(*launched, ready_timeout=ready_timeout)


def serve_flags(args: tuple[str, ...], forward_process: bool) -> tuple[str, ...]:
    """``args`` plus --no-forward-process unless the test runs the forward process (see start_server)."""
    return args if forward_process else (*args, "--no-forward-process")


def start_servers(count: int, model: str | None, *args: str, ready_timeout: float = 120.0) -> list:
    """``count`` servers of ``model`` started side by side (each loads for seconds): [(proc, url)]."""
    launched = [launch_server(model, *serve_flags(args, False)) for _ in range(count)]
    try:
        return [wait_until_serving(*each, ready_timeout=ready_timeout) for each in launched]
    except BaseException:
        for proc, _ in launched:
            stop_server(proc)
        raise


def launch_server(model: str | None, *args: str, env: dict | None = None, port: int | None = None):
    """(process, url) of a `rewardkit serve` just started: several start side by side, then
    `wait_until_serving` each."""
    port = port or free_port()
    cmd = [
        sys.executable,
        "-m",
        "rewardkit.cli",
        "serve",
        *([model] if model is not None else []),
        "--port",
        str(port),
        "--log-level",
        "warning",
        *args,
    ]
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def wait_until_serving(proc: subprocess.Popen, url: str, *, ready_timeout: float = 120.0):
    """(proc, url) once the server answers GET /health with 200; stopped and raised if it never does."""
    deadline = time.monotonic() + ready_timeout
    with httpx.Client(timeout=1) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{proc.stdout.read().decode()}")
            try:
                if client.get(url + "/health").status_code == 200:
                    return proc, url
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    stop_server(proc)
    raise RuntimeError("server did not become healthy in time")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def app_in_thread(app, *, lifespan: str = "off", port: int = 0):
    """Serve an ASGI app with a real uvicorn on 127.0.0.1 (``port``, else a free one; a port a stopped
    server used can be taken again at once) in a background thread; yields its URL."""
    import threading

    import uvicorn

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "the in-thread server did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
