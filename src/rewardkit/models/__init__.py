"""Loading reward models: format detection, heads, pooling. Imports torch only when loading."""

from rewardkit.models.base import LoadedModel, ModelInfo
from rewardkit.models.loader import load_model

__all__ = ["LoadedModel", "ModelInfo", "load_model"]
