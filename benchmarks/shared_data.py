"""Where the benchmarks' real data lives: the full files in ../shared/data, beside the clone (the
team's copy; the repository holds only the tests' small samples, tests/data). A missing file stops a
benchmark with one line that names it, what it is and how to point the benchmark elsewhere."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["SHARED_DATA", "require"]

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def require(path: Path, what: str, option: str | None = "--data") -> Path:
    """``path`` if it exists; otherwise exit with one line saying what is missing."""
    if not path.exists():
        elsewhere = f"; pass {option} to read it from elsewhere" if option else ""
        raise SystemExit(
            f"{Path(sys.argv[0]).name}: {path} is missing: {what}, from the full data files kept beside the "
            f"clone in ../shared/data (not in the repository){elsewhere}"
        )
    return path
