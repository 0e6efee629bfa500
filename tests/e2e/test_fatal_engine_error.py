"""A fatal engine error (the one a broken CUDA context raises, from FaultyModel) in a real server
process: by default it answers what is in flight, then exits with status 3 for a supervisor to start
a fresh one; with --no-exit-on-fatal-error (exit_on_fatal_error=False) it stays up, /health 503."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from processes import free_port, stop_server, wait_until_serving
from waiting import wait_until

from rewardkit.serving.server import FATAL_EXIT_STATUS

pytestmark = pytest.mark.e2e

SERVER = """
import sys
sys.path.insert(0, {tests!r})
from conftest import FaultyModel
from rewardkit.config import ServerConfig
from rewardkit.models import load_model
from rewardkit.serving import build, run_server

model = load_model({checkpoint!r})
faulty = FaultyModel(model, fail_token=model.tokenizer.convert_tokens_to_ids("</s>"), fatal=True)
config = ServerConfig(port={port}, log_level="warning", exit_on_fatal_error={exit})
sys.exit(run_server(build(faulty, server_config=config), config))
"""


def launch(folder: Path, script: Path, *, exit_on_fatal_error: bool) -> tuple[subprocess.Popen, str]:
    """A server process like `rewardkit serve`, whose model raises fatally on '</s>'."""
    port = free_port()
    tests = str(Path(__file__).resolve().parents[1])
    script.write_text(SERVER.format(tests=tests, checkpoint=str(folder), port=port, exit=exit_on_fatal_error))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def servers(checkpoint, tmp_path_factory):
    """Both servers, started side by side: {"exit": (proc, url), "keep": (proc, url)}."""
    folder, scripts = checkpoint("llama"), tmp_path_factory.mktemp("fatal")
    launched = {
        "exit": launch(folder, scripts / "exit.py", exit_on_fatal_error=True),
        "keep": launch(folder, scripts / "keep.py", exit_on_fatal_error=False),
    }
    try:
        yield {name: wait_until_serving(*each) for name, each in launched.items()}
    finally:
        for proc, _ in launched.values():
            stop_server(proc)


def scored_so_far(url: str) -> float:
    found = re.search(r"^rewardkit_sequences_scored_total ([0-9.e+-]+)$", httpx.get(url + "/metrics").text, re.M)
    return float(found.group(1)) if found else 0.0


def test_a_fatal_error_answers_what_is_in_flight_then_exits_with_status_3(servers):
    proc, url = servers["exit"]
    texts = [f"text {i} " + "word " * 40 for i in range(300)]
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(httpx.post, url + "/get_reward", json={"query": texts}, timeout=120)
        wait_until(lambda: scored_so_far(url) > 0, "the long request is being scored")
        fatal = httpx.post(url + "/get_reward", json={"query": ["kill </s>"]}, timeout=60)
        in_flight = running.result()
    status = proc.wait(timeout=60)
    assert fatal.status_code == 503 and fatal.json()["error"] == "EngineDeadError"
    assert "CUDA error" in fatal.json()["detail"]
    assert in_flight.status_code in (200, 503)  # answered (scored, or failed by the dead engine), not dropped
    assert status == FATAL_EXIT_STATUS, proc.stdout.read().decode()[-2000:]


def test_with_exit_on_fatal_error_off_the_server_stays_up_answering_503(servers):
    proc, url = servers["keep"]
    with httpx.Client(timeout=60) as client:
        fatal = client.post(url + "/get_reward", json={"query": ["kill </s>"]})
        health = client.get(url + "/health")
        later = client.post(url + "/get_reward", json={"query": ["later"]})
        info = client.get(url + "/info")
    assert fatal.status_code == 503 and later.status_code == 503 and later.json()["error"] == "EngineDeadError"
    assert health.status_code == 503 and health.json()["status"] == "unhealthy"
    assert "CUDA error" in health.json()["reason"]
    assert info.status_code == 200  # up, for someone to look at
    stop_server(proc)
    assert proc.wait() in (0, -signal.SIGTERM)  # stopped by the signal, not by the fatal error
