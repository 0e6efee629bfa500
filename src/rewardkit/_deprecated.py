"""Old import paths kept for one release: `alias` makes a module stand for its new home, with a
DeprecationWarning. Nothing inside rewardkit imports an alias (tests/unit/test_layers.py)."""

from __future__ import annotations

import sys
import warnings
from importlib import import_module

__all__ = ["alias"]


def alias(old: str, new: str) -> None:
    """Give module ``old`` every public name of ``new`` and warn whoever imported it."""
    target = import_module(new)
    names = list(getattr(target, "__all__", []))
    module = sys.modules[old]
    vars(module).update({name: getattr(target, name) for name in names})
    module.__all__ = names  # type: ignore[attr-defined]
    warnings.warn(f"{old} is deprecated; import from rewardkit or {new}", DeprecationWarning, stacklevel=3)
