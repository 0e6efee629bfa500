"""rewardkit: serve, run and evaluate reward models.

Importing this package loads no torch and has no side effects; the names below are resolved on
first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from rewardkit import errors as _errors
from rewardkit._version import __version__

__all__ = [
    "AsyncClient",
    "BatchFailedError",
    "Client",
    "EngineConfig",
    "EngineDeadError",
    "EngineError",
    "Ensemble",
    "EnsembleConfig",
    "EnsembleService",
    "InputTooLongError",
    "InvalidInputError",
    "MemberFailedError",
    "ModelConfig",
    "ModelLoadError",
    "ModelOutputError",
    "QueueFullError",
    "RewardKitError",
    "RewardModel",
    "RewardService",
    "ServerConfig",
    "ServerResponseError",
    "TooManyItemsError",
    "__version__",
]

_LOCATIONS = {
    "AsyncClient": "rewardkit.client",
    "Client": "rewardkit.client",
    "RewardModel": "rewardkit.scoring.model",
    "RewardService": "rewardkit.scoring.service",
    "EngineConfig": "rewardkit.config",
    "EnsembleConfig": "rewardkit.config",
    "Ensemble": "rewardkit.scoring.ensemble",
    "EnsembleService": "rewardkit.scoring.ensemble",
    "ModelConfig": "rewardkit.config",
    "ServerConfig": "rewardkit.config",
    **{name: "rewardkit.errors" for name in _errors.__all__},
}

if TYPE_CHECKING:
    from rewardkit.client import AsyncClient, Client
    from rewardkit.config import EngineConfig, EnsembleConfig, ModelConfig, ServerConfig
    from rewardkit.errors import (
        BatchFailedError,
        EngineDeadError,
        EngineError,
        InputTooLongError,
        InvalidInputError,
        MemberFailedError,
        ModelLoadError,
        ModelOutputError,
        QueueFullError,
        RewardKitError,
        ServerResponseError,
        TooManyItemsError,
    )
    from rewardkit.scoring.ensemble import Ensemble, EnsembleService
    from rewardkit.scoring.model import RewardModel
    from rewardkit.scoring.service import RewardService


def __getattr__(name: str) -> Any:
    if name in _LOCATIONS:
        return getattr(import_module(_LOCATIONS[name]), name)
    raise AttributeError(f"module 'rewardkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
