"""Deprecated location: the HTTP app moved to rewardkit.serving (build, build_ensemble, create_app).
This alias goes away in the next release."""

import warnings

from rewardkit.serving import build, build_ensemble, create_app

__all__ = ["build", "build_ensemble", "create_app"]

warnings.warn("rewardkit.server is deprecated; import from rewardkit.serving", DeprecationWarning, stacklevel=2)
