"""A clone is whole: the committed tree, cloned into a folder where nothing sits beside it, collects
the whole suite and holds the data samples the tests read. Runs this environment's python on the
clone's sources."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "HEAD"], capture_output=True).returncode:
        pytest.skip("no commit to clone")
    where = tmp_path_factory.mktemp("alone") / "rewardkit"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(where)], check=True)
    assert [p.name for p in where.parent.iterdir()] == [where.name]  # nothing beside the clone
    return where


def run_in(clone: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(clone / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, *args], cwd=clone, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_clone_imports_its_own_sources(clone):
    done = run_in(clone, "-c", "import rewardkit; print(rewardkit.__file__)")
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(clone)


def test_a_clone_with_nothing_beside_it_collects_the_whole_suite(clone):
    done = run_in(clone, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "error" not in done.stdout.splitlines()[-1]


def test_the_clone_holds_every_data_sample_the_tests_read(clone):
    def files(root: Path) -> set[str]:
        data = root / "tests" / "data"
        return {str(f.relative_to(data)) for f in data.rglob("*") if f.is_file() and "__pycache__" not in f.parts}

    missing = files(ROOT) - files(clone)
    assert not missing, f"tests/data has files that are not committed: {sorted(missing)}"
