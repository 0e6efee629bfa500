"""Deprecated alias of rewardkit.scoring.ensemble, kept for one release."""

from rewardkit._deprecated import alias

alias(__name__, "rewardkit.scoring.ensemble")
