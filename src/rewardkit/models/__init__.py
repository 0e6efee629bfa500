"""Loading reward models: format detection, heads, pooling, the built-in model. Imports torch only
when loading; knows nothing about batching, text or HTTP."""

from rewardkit.models.base import LoadedModel, ModelInfo
from rewardkit.models.loader import load_model, open_model

__all__ = ["LoadedModel", "ModelInfo", "load_model", "open_model"]
