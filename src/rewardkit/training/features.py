"""Frozen-backbone features: the hidden state the reward head reads, computed once and cached.

Knows the model's pooling (``SequenceClassifierModel.pooled``) and the engine's batch planning;
knows nothing about losses. Features are cached in chunks keyed by the checkpoint and the exact
token ids, so an interrupted run resumes where it stopped and a rerun costs nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rewardkit.data.files import atomic_path
from rewardkit.types import TokenizedItem

__all__ = ["CHUNK", "pooled_features"]

CHUNK = 256


def _key(model_id: str, items: Sequence[TokenizedItem]) -> str:
    digest = hashlib.sha256(model_id.encode())
    for item in items:
        digest.update(repr(item.input_ids).encode())
    return digest.hexdigest()[:24]


def pooled_features(
    model: Any,
    items: Sequence[TokenizedItem],
    *,
    cache_dir: Path | None = None,
    model_id: str = "",
    max_batch_tokens: int | None = None,
    progress: bool = False,
) -> Any:
    """A float32 [len(items), hidden] tensor of pooled backbone states, in input order, batched under the
    engine's defaults for the model's device unless ``max_batch_tokens`` is given."""
    import torch
    from tqdm.auto import tqdm

    from rewardkit.config import EngineConfig
    from rewardkit.engine.batcher import plan_batches
    from rewardkit.engine.runner import collate

    batching = EngineConfig(max_batch_tokens=max_batch_tokens).for_device(model.device)
    chunks = []
    bar = tqdm(total=len(items), disable=not progress, unit="seq", desc="features")
    for start in range(0, len(items), CHUNK):
        part = list(items[start : start + CHUNK])
        path = cache_dir / f"features-{_key(model_id, part)}.pt" if cache_dir is not None else None
        if path is not None and path.exists():
            chunks.append(torch.load(path))
            bar.update(len(part))
            continue
        rows: list[Any] = [None] * len(part)
        for batch in plan_batches([i.length for i in part], batching.max_batch_tokens, batching.max_batch_size):
            ids, mask = collate([part[i] for i in batch], model.pad_id)
            with torch.inference_mode():
                pooled = model.pooled(ids.to(model.device), mask.to(model.device)).float().cpu()
            for row, i in enumerate(batch):
                rows[i] = pooled[row]
            bar.update(len(batch))
        out = torch.stack(rows)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                torch.save(out, tmp)
        chunks.append(out)
    bar.close()
    return torch.cat(chunks) if chunks else torch.empty(0)
