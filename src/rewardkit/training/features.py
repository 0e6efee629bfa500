"""Frozen-backbone features: the hidden state the reward head reads, computed once and cached.

Knows the model's pooling (``SequenceClassifierModel.pooled``, or the packed forward the server
runs) and the engine's batch planning; knows nothing about losses. Features are cached in chunks
keyed by the checkpoint and the exact token ids, so an interrupted run resumes where it stopped and
a rerun costs nothing. ``FeatureBank`` keeps one row per distinct conversation, so a text shared by
several pairs (or several datasets) is computed once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rewardkit.data.files import atomic_path
from rewardkit.types import Conversation, TokenizedItem, conversation_key

__all__ = ["CHUNK", "FeatureBank", "pooled_features"]

CHUNK = 256


def _key(model_id: str, items: Sequence[TokenizedItem]) -> str:
    digest = hashlib.sha256(model_id.encode())
    for item in items:
        digest.update(repr(item.input_ids).encode())
    return digest.hexdigest()[:24]


def _chunk_features(model: Any, part: Sequence[TokenizedItem], batching: Any, bar: Any) -> Any:
    """Pooled states of one chunk, in order. A model that serves packed batches computes them the
    same way (one padding-free row per batch, each shared prompt once), else padded batches."""
    import torch

    from rewardkit.engine.batcher import plan_batches
    from rewardkit.engine.runner import collate

    packed = bool(getattr(model, "packed", False))
    sequences = [list(item.input_ids) for item in part]
    rows: list[Any] = [None] * len(part)
    plan = plan_batches(
        [len(s) for s in sequences], batching.max_batch_tokens, batching.max_batch_size, packed, sequences
    )
    for batch in plan:
        with torch.inference_mode():
            if packed:
                from rewardkit.models.packing import packed_hidden

                pooled = packed_hidden(
                    model.packing_backbone(),
                    [sequences[i] for i in batch],
                    model.device,
                    varlen=model.varlen,
                    fused=model.fused,
                )
            else:
                ids, mask = collate([part[i] for i in batch], model.pad_id)
                pooled = model.pooled(ids.to(model.device), mask.to(model.device))
        pooled = pooled.float().cpu()
        for row, i in enumerate(batch):
            rows[i] = pooled[row]
        bar.update(len(batch))
    return torch.stack(rows)


def pooled_features(
    model: Any,
    items: Sequence[TokenizedItem],
    *,
    cache_dir: Path | None = None,
    model_id: str = "",
    max_batch_tokens: int | None = None,
    progress: bool = False,
    desc: str = "features",
) -> Any:
    """A float32 [len(items), hidden] tensor of pooled backbone states, in input order, batched under the
    engine's defaults for the model's device unless ``max_batch_tokens`` is given."""
    import torch
    from tqdm.auto import tqdm

    from rewardkit.config import EngineConfig

    batching = EngineConfig(max_batch_tokens=max_batch_tokens).for_device(model.device)
    chunks = []
    bar = tqdm(total=len(items), disable=not progress, unit="seq", desc=desc)
    for start in range(0, len(items), CHUNK):
        part = list(items[start : start + CHUNK])
        path = cache_dir / f"features-{_key(model_id, part)}.pt" if cache_dir is not None else None
        if path is not None and path.exists():
            chunks.append(torch.load(path))
            bar.update(len(part))
            continue
        out = _chunk_features(model, part, batching, bar)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                torch.save(out, tmp)
        chunks.append(out)
    bar.close()
    return torch.cat(chunks) if chunks else torch.empty(0)


class FeatureBank:
    """Pooled features by conversation, each distinct conversation computed once.

    ``add`` computes what is new, in the order given, through ``pooled_features`` with its chunk
    cache; the same calls in the same order after an interruption find their chunks on disk."""

    def __init__(
        self, model: Any, templater: Any, *, cache_dir: Path | None = None, model_id: str = "", progress: bool = True
    ) -> None:
        self.model, self.templater = model, templater
        self.cache_dir, self.model_id, self.progress = cache_dir, model_id, progress
        self.rows: dict[tuple[tuple[str, str], ...], Any] = {}

    def add(self, conversations: Sequence[Conversation], desc: str = "features") -> None:
        new: dict[tuple[tuple[str, str], ...], Conversation] = {}
        for conversation in conversations:
            key = conversation_key(conversation)
            if key not in self.rows:
                new.setdefault(key, conversation)
        if not new:
            return
        items = self.templater.encode_conversations(list(new.values()))
        features = pooled_features(
            self.model, items, cache_dir=self.cache_dir, model_id=self.model_id, progress=self.progress, desc=desc
        )
        self.rows.update(zip(new, features, strict=True))

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, conversation: Conversation) -> bool:
        return conversation_key(conversation) in self.rows

    def features(self, conversations: Sequence[Conversation]) -> Any:
        """[len(conversations), hidden]; every conversation must have been added."""
        import torch

        missing = [i for i, c in enumerate(conversations) if conversation_key(c) not in self.rows]
        if missing:
            raise KeyError(f"{len(missing)} conversations have no features yet (first: #{missing[0]}); add them first")
        return torch.stack([self.rows[conversation_key(c)] for c in conversations])
