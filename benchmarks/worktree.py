"""rewardkit as of an earlier git revision, for a before/after comparison in one benchmark run.

``before_worktree(REV)`` checks REV out into a temporary ``git worktree add --detach`` of this
repository and yields a ``BeforeBuild``; on leaving (normally, on an error or on KeyboardInterrupt)
the worktree is removed again with ``git worktree remove --force``. The old source runs in the same
virtual environment, with ``PYTHONPATH=<worktree>/src`` ahead of the editable install of the
current checkout; ``before_kind`` is the server contender that starts it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servers import ServerKind

__all__ = ["REPO_ROOT", "BeforeBuild", "before_kind", "before_worktree", "resolve_ref"]

REPO_ROOT = Path(__file__).resolve().parents[1]
# Works whether the revision has rewardkit/cli.py (a module) or rewardkit/cli/ (a package).
_LAUNCH = "import sys; from rewardkit.cli import main; sys.argv[0] = 'rewardkit'; main()"
_PROBE = "import json, rewardkit; print(json.dumps({'file': rewardkit.__file__, 'version': rewardkit.__version__}))"


@dataclass(frozen=True)
class BeforeBuild:
    ref: str  # as given on the command line
    commit: str  # the full commit it names
    path: Path  # the worktree
    version: str  # rewardkit.__version__ there

    @property
    def src(self) -> Path:
        return self.path / "src"

    def describe(self) -> dict[str, Any]:
        return {"ref": self.ref, "commit": self.commit, "version": self.version, "source": str(self.src)}


def _git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout.strip()


def resolve_ref(ref: str) -> str:
    """The full commit a git revision names (RuntimeError if it names none)."""
    return _git("rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}")


def _kind(src: Path) -> ServerKind:
    return ServerKind(
        "rewardkit-before",
        "rewardkit-before",
        (sys.executable, "-c", _LAUNCH, "serve"),
        env=(("PYTHONPATH", str(src)),),
        api="rewardkit",
    )


def before_kind(build: BeforeBuild) -> ServerKind:
    """``python -c <launch> serve ...`` with the worktree's src/ first on PYTHONPATH."""
    return _kind(build.src)


def _probe(src: Path) -> dict[str, str]:
    """Which rewardkit the server's interpreter imports, with the server's environment and working directory."""
    env = _kind(src).environment(dict(os.environ))
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"importing rewardkit from {src} failed:\n{done.stderr.strip()}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    if not Path(found["file"]).resolve().is_relative_to(src.resolve()):
        raise RuntimeError(f"with PYTHONPATH={src}, rewardkit is still imported from {found['file']}")
    return found


def _remove(path: Path, parent: Path, log: Any) -> None:
    done = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "worktree", "remove", "--force", str(path)], capture_output=True, text=True
    )
    if done.returncode != 0 and path.exists():
        log(f"git worktree remove failed ({done.stderr.strip()}); deleting {path} and pruning")
        shutil.rmtree(path, ignore_errors=True)
    if done.returncode != 0:
        subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "prune"], capture_output=True, text=True)
    shutil.rmtree(parent, ignore_errors=True)


@contextlib.contextmanager
def before_worktree(ref: str, log: Any = print) -> Iterator[BeforeBuild]:
    """A temporary detached worktree of ``ref``, removed again however the block ends."""
    commit = resolve_ref(ref)
    parent = Path(tempfile.mkdtemp(prefix="rewardkit-before-"))
    path = parent / "rewardkit"
    try:
        _git("worktree", "add", "--detach", str(path), commit)
    except BaseException:
        shutil.rmtree(parent, ignore_errors=True)
        subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "prune"], capture_output=True, text=True)
        raise
    log(f"rewardkit-before: {ref} ({commit[:12]}) checked out in {path}")
    try:
        found = _probe(path / "src")
        yield BeforeBuild(ref=ref, commit=commit, path=path, version=found["version"])
    finally:
        _remove(path, parent, log)
        log(f"rewardkit-before: removed the worktree {path}")
