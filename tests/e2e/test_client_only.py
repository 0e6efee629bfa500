"""The HTTP client and the OpenRLHF / TRL / verl adapters on a trainer host without torch, transformers
or matplotlib (`pip install 'rewardkit[client]'`): a Python process in which importing those fails (an
import hook here; under `make test-client-only`, a venv where they are not installed at all, named by
$REWARDKIT_CLIENT_PYTHON) imports the client and the adapters and scores through each against a real
server, getting the server's own rewards."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from processes import app_in_thread

from rewardkit.client import Client
from rewardkit.models import load_model
from rewardkit.serving import build

pytestmark = pytest.mark.e2e

TEXTS = ["The capital of France is Paris.", "I do not know."]

CLIENT_HOST = r"""
import importlib.abc
import json
import os
import sys

HEAVY = {"torch", "transformers", "matplotlib"}


class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HEAVY:
            raise ModuleNotFoundError(f"No module named {name!r} (a client-only host)", name=name)


if "--refuse-heavy" in sys.argv:
    sys.meta_path.insert(0, NotInstalled())
url, texts = sys.argv[1], json.loads(sys.argv[2])
os.environ["REWARDKIT_URL"] = url

from rewardkit import Client
from rewardkit.integrations import openrlhf_reward, verl
from rewardkit.integrations.trl import RemoteRewardFunction

with Client(url) as client:
    direct = client.get_reward(texts)["rewards"]
openrlhf = openrlhf_reward.reward_func(texts, ["", ""], ["", ""])
question, answer = {"role": "user", "content": "Where is Paris?"}, {"role": "assistant", "content": "In France."}
trl = RemoteRewardFunction(url)([[question]], [[answer]])
verl_score = verl.compute_score_sync("example", "In France.", "", {"question": "Where is Paris?"})
print(json.dumps({
    "direct": direct,
    "openrlhf": [float(v) for v in openrlhf["rewards"]],
    "trl": trl,
    "verl": verl_score["score"],
    "heavy_loaded": sorted(name for name in HEAVY if name in sys.modules),
}))
"""


@pytest.fixture(scope="module")
def server(llama_dir):
    with app_in_thread(build(load_model(str(llama_dir))), lifespan="on") as url:
        yield url


def test_client_and_adapters_score_without_torch_transformers_or_matplotlib(server, tmp_path):
    python = os.environ.get("REWARDKIT_CLIENT_PYTHON") and os.path.abspath(os.environ["REWARDKIT_CLIENT_PYTHON"])
    command = [python] if python else [sys.executable]
    command += ["-c", CLIENT_HOST, server, json.dumps(TEXTS)] + ([] if python else ["--refuse-heavy"])
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.splitlines()[-1])
    with Client(server) as client:
        expected = client.get_reward(TEXTS)["rewards"]
    assert answer["heavy_loaded"] == []
    assert answer["direct"] == pytest.approx(expected, abs=1e-6)
    assert answer["openrlhf"] == pytest.approx(expected, abs=1e-6)
    assert len(answer["trl"]) == 1 and isinstance(answer["verl"], float)


CLI_WITHOUT_MODEL_STACK = r"""
import importlib.abc
import sys


class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


if "--refuse-heavy" in sys.argv:
    sys.meta_path.insert(0, NotInstalled())
from rewardkit.cli import main

sys.argv = ["rewardkit", "info", "builtin"]
main()
"""


def test_a_model_command_on_the_client_install_says_what_to_install(tmp_path):
    python = os.environ.get("REWARDKIT_CLIENT_PYTHON") and os.path.abspath(os.environ["REWARDKIT_CLIENT_PYTHON"])
    command = [python or sys.executable, "-c", CLI_WITHOUT_MODEL_STACK] + ([] if python else ["--refuse-heavy"])
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False)
    assert done.returncode == 2, done.stderr
    assert "pip install 'rewardkit[serve]'" in done.stderr
