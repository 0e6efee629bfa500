from __future__ import annotations

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


MOVED = {
    "rewardkit.model": ("RewardModel", "rewardkit.scoring.model"),
    "rewardkit.service": ("RewardService", "rewardkit.scoring.service"),
    "rewardkit.ensemble": ("EnsembleService", "rewardkit.scoring.ensemble"),
    "rewardkit.server": ("create_app", "rewardkit.serving"),
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_moved_modules_still_import_with_a_deprecation_warning(old):
    name, new = MOVED[old]
    code = (
        "import importlib, warnings\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        f"    old = importlib.import_module({old!r})\n"
        f"assert getattr(old, {name!r}) is getattr(importlib.import_module({new!r}), {name!r})\n"
        "print([str(w.message) for w in caught if w.category is DeprecationWarning])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert f"{old} is deprecated" in out.stdout
