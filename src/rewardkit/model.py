"""Deprecated alias of rewardkit.scoring.model, kept for one release."""

from rewardkit._deprecated import alias

alias(__name__, "rewardkit.scoring.model")
