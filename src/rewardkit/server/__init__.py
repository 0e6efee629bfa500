"""Deprecated alias of rewardkit.serving, kept for one release."""

from rewardkit._deprecated import alias

alias(__name__, "rewardkit.serving")
