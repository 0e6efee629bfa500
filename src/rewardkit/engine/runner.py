"""One model on one device: collate a batch -> forward -> floats.

Knows nothing about queues, requests or HTTP. Inputs are always right-padded (positions of real
tokens never shift) and the reward is read at the last real token by the model wrapper.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rewardkit.errors import ModelLoadError, ModelOutputError
from rewardkit.models.base import LoadedModel
from rewardkit.types import ScoreResult, TokenizedItem

__all__ = ["BatchOutput", "Runner", "is_fatal"]


@dataclass
class BatchOutput:
    results: list[ScoreResult | ModelOutputError]
    real_tokens: int
    padded_tokens: int


def is_fatal(exc: BaseException) -> bool:
    """Errors after which the device cannot be trusted again (the worker must stop)."""
    if not isinstance(exc, Exception):
        return True
    text = str(exc)
    return "CUDA error" in text or "device-side assert" in text


class Runner:
    def __init__(self, model: LoadedModel, *, normalize: bool = False) -> None:
        stats = model.info.normalization
        if normalize and stats is None:
            raise ModelLoadError(
                f"{model.info.path}: normalization was asked for but config.json has no 'mean'/'std'; "
                "drop --normalize or add the statistics to config.json"
            )
        self.model = model
        self.normalize = normalize
        self._mean = stats["mean"] if normalize and stats else 0.0
        self._std = stats["std"] if normalize and stats else 1.0
        self._labels = model.info.label_names

    def run(self, items: Sequence[TokenizedItem]) -> BatchOutput:
        import torch

        width = max(item.length for item in items)
        ids = torch.full((len(items), width), self.model.pad_id, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        for row, item in enumerate(items):
            ids[row, : item.length] = torch.tensor(item.input_ids, dtype=torch.long)
            mask[row, : item.length] = 1
        device = self.model.device
        with torch.inference_mode():
            raw = self.model.forward(ids.to(device), mask.to(device)).cpu().tolist()
        real = sum(item.length for item in items)
        return BatchOutput(
            results=[self._result(item, row) for item, row in zip(items, raw)],
            real_tokens=real,
            padded_tokens=width * len(items),
        )

    def _result(self, item: TokenizedItem, row: list[float]) -> ScoreResult | ModelOutputError:
        if not all(math.isfinite(v) for v in row):
            return ModelOutputError(
                f"the model returned a non-finite score ({row}) for a {item.length}-token input; with float16 "
                "this is usually overflow: try --dtype bfloat16 or float32"
            )
        score = (row[0] - self._mean) / self._std
        extras = {name: value for name, value in zip(self._labels, row)} if len(row) > 1 else {}
        return ScoreResult(score=score, num_tokens=item.length, truncated=item.truncated, extras=extras)
