"""Deprecated location: RewardService moved to rewardkit.scoring.service (and stay importable from rewardkit).
This alias goes away in the next release."""

import warnings

from rewardkit.scoring.service import RewardService

__all__ = ["RewardService"]

warnings.warn(
    "rewardkit.service is deprecated; import RewardService from rewardkit (or rewardkit.scoring.service)",
    DeprecationWarning,
    stacklevel=2,
)
