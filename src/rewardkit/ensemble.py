"""Deprecated location: Ensemble, EnsembleService moved to rewardkit.scoring.ensemble (and stay
importable from rewardkit).
This alias goes away in the next release."""

import warnings

from rewardkit.scoring.ensemble import Ensemble, EnsembleService

__all__ = ["Ensemble", "EnsembleService"]

warnings.warn(
    "rewardkit.ensemble is deprecated; import Ensemble, EnsembleService from rewardkit (or rewardkit.scoring.ensemble)",
    DeprecationWarning,
    stacklevel=2,
)
