"""What a model format module builds on: the ModelFormat record and `assemble`, which turns a
format's module and head into a LoadedModel with the facts /info reports.

Knows checkpoints and tokenizers; knows no format in particular (the registry in loader.py lists
them) and nothing about batching, text or HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rewardkit.errors import ModelLoadError
from rewardkit.models.base import LoadedModel, ModelInfo
from rewardkit.models.checkpoint import Checkpoint
from rewardkit.models.positions import position_limit

__all__ = [
    "MAX_DEFAULT_LENGTH",
    "Loading",
    "ModelFormat",
    "assemble",
    "label_names",
    "normalization_stats",
    "pad_token_id",
]

MAX_DEFAULT_LENGTH = 8192


@dataclass(frozen=True)
class ModelFormat:
    """One on-disk reward-model layout. ``detect`` returns why a checkpoint matches (for /info), or
    None; ``load`` builds the LoadedModel."""

    name: str
    description: str
    detect: Callable[[Checkpoint], str | None]
    load: Callable[..., LoadedModel]
    runs_custom_code: bool = False


def pad_token_id(tokenizer: Any) -> tuple[int, bool]:
    """The id used for padding and whether it had to be borrowed (from eos, else 0).

    Padding never reaches the reward: inputs are masked and read at the last real token, so a
    borrowed pad id cannot change a score.
    """
    if tokenizer.pad_token_id is not None:
        return int(tokenizer.pad_token_id), False
    if tokenizer.eos_token_id is not None:
        return int(tokenizer.eos_token_id), True
    return 0, True


def default_max_length(ckpt: Checkpoint, tokenizer: Any) -> int:
    """The model's position limit, the tokenizer's model_max_length, at most MAX_DEFAULT_LENGTH."""
    limits = [MAX_DEFAULT_LENGTH]
    positions = position_limit(ckpt.config)
    if positions is not None:
        limits.append(positions.tokens)
    model_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(model_max, int) and 0 < model_max < 1_000_000:
        limits.append(model_max)
    return min(limits)


@dataclass(frozen=True)
class Loading:
    """What the loader hands a format's ``load``: the checkpoint, its tokenizer, where and in what
    dtype the model goes, and the settings."""

    ckpt: Checkpoint
    tokenizer: Any
    dtype: Any
    device: str
    config: Any


def assemble(
    model_cls: type[LoadedModel],
    fmt: ModelFormat,
    source: Loading,
    *,
    module: Any,
    head: Any = None,
    head_text: str,
    pooling: str,
    num_labels: int,
    outputs: list[str] | None = None,
    objective: str | None = None,
    steps: dict[str, Any] | None = None,
    **model_kwargs: Any,
) -> LoadedModel:
    """The LoadedModel of a format, with its pad id and the facts /info reports; ``model_kwargs``
    go to the format's own LoadedModel class."""
    ckpt, tokenizer, dtype, device = source.ckpt, source.tokenizer, source.dtype, source.device
    pad_id, pad_added = pad_token_id(tokenizer)
    normalization = normalization_stats(ckpt)
    if outputs is None:
        outputs = label_names(ckpt, num_labels)
    info = ModelInfo(
        path=str(ckpt.path),
        format=fmt.name,
        architecture=(ckpt.architectures or [ckpt.config.get("model_type", "?")])[0],
        head=head_text,
        pooling=pooling,
        num_labels=num_labels,
        dtype=str(dtype).replace("torch.", ""),
        device=device,
        max_length=default_max_length(ckpt, tokenizer),
        pad_token=tokenizer.pad_token,
        eos_token=tokenizer.eos_token,
        bos_token=tokenizer.bos_token,
        pad_token_added=pad_added,
        normalization=normalization,
        normalize_by_default=bool(ckpt.config.get("normalize_reward")) and normalization is not None,
        outputs=outputs if len(outputs) > 1 else [],
        objective=objective,
        steps=steps,
        evaluation=evaluation if isinstance(evaluation := ckpt.config.get("rewardkit_evaluation"), dict) else None,
    )
    return model_cls(module=module, head=head, tokenizer=tokenizer, pad_id=pad_id, info=info, **model_kwargs)


def label_names(ckpt: Checkpoint, count: int) -> list[str]:
    """Output names from config.json's id2label (or ``objective_names``), else LABEL_i."""
    names = ckpt.config.get("objective_names")
    if isinstance(names, list) and len(names) == count:
        return [str(n) for n in names]
    id2label = ckpt.config.get("id2label") or {}
    return [str(id2label.get(str(i), id2label.get(i, f"LABEL_{i}"))) for i in range(count)]


def normalization_stats(ckpt: Checkpoint) -> dict[str, float] | None:
    """OpenRLHF's mean/std in config.json, if the checkpoint carries them."""
    mean, std = ckpt.config.get("mean"), ckpt.config.get("std")
    if isinstance(mean, (int, float)) and isinstance(std, (int, float)):
        if std <= 0:
            raise ModelLoadError(f"{ckpt.path}/config.json: std must be positive for normalization, got {std}")
        return {"mean": float(mean), "std": float(std)}
    return None
