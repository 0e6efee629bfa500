from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

import rewardkit


def test_public_names_are_pinned():
    assert set(rewardkit.__all__) == {
        "AsyncClient",
        "BatchFailedError",
        "Client",
        "EngineConfig",
        "EngineDeadError",
        "EngineError",
        "Ensemble",
        "EnsembleConfig",
        "EnsembleService",
        "InputTooLongError",
        "InvalidInputError",
        "MemberFailedError",
        "ModelConfig",
        "ModelLoadError",
        "ModelOutputError",
        "QueueFullError",
        "RewardKitError",
        "RewardModel",
        "RewardService",
        "ServerConfig",
        "ServerResponseError",
        "TooManyItemsError",
        "__version__",
    }
    for name in rewardkit.__all__:
        assert getattr(rewardkit, name) is not None


def test_import_loads_no_torch():
    code = "import sys, rewardkit; rewardkit.RewardModel; rewardkit.Ensemble; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_error_is_a_rewardkit_error():
    for name in rewardkit.__all__:
        obj = getattr(rewardkit, name)
        if isinstance(obj, type) and name.endswith("Error"):
            assert issubclass(obj, rewardkit.RewardKitError)


REMOVED = {
    "rewardkit.model": "rewardkit.scoring.model",
    "rewardkit.service": "rewardkit.scoring.service",
    "rewardkit.ensemble": "rewardkit.scoring.ensemble",
    "rewardkit.server": "rewardkit.serving",
}
"""The old top-level alias modules, removed (pre-1.0), and the home of what each held."""


@pytest.mark.parametrize("old", sorted(REMOVED))
def test_removed_top_level_modules_are_gone(old):
    assert importlib.util.find_spec(old) is None
    assert importlib.util.find_spec(REMOVED[old]) is not None
