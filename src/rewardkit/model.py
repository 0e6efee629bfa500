"""Deprecated location: RewardModel moved to rewardkit.scoring.model (and stay importable from rewardkit).
This alias goes away in the next release."""

import warnings

from rewardkit.scoring.model import RewardModel

__all__ = ["RewardModel"]

warnings.warn(
    "rewardkit.model is deprecated; import RewardModel from rewardkit (or rewardkit.scoring.model)",
    DeprecationWarning,
    stacklevel=2,
)
