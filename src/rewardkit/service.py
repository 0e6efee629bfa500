"""Deprecated alias of rewardkit.scoring.service, kept for one release."""

from rewardkit._deprecated import alias

alias(__name__, "rewardkit.scoring.service")
