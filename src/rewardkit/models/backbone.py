"""Load the transformer body of a backbone + head checkpoint, and refuse silent random weights."""

from __future__ import annotations

from typing import Any

from rewardkit.errors import ModelLoadError
from rewardkit.models.checkpoint import Checkpoint

__all__ = ["head_dim", "linear_head", "load_backbone", "missing_weights"]


def head_dim(config: Any) -> int:
    """The attention head size of a transformers config: ``head_dim`` where it names one (Qwen3,
    Gemma), else the hidden size split over the heads."""
    return int(getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads)


def missing_weights(loading: dict[str, Any]) -> str | None:
    """The weights ``from_pretrained(..., output_loading_info=True)`` could not find, listed short
    for an error message (transformers initialises them at random and only logs it); None if none."""
    missing = sorted(loading.get("missing_keys") or [])
    if not missing:
        return None
    return ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")


def load_backbone(ckpt: Checkpoint, *, dtype: Any, device: str, prefix: str | None = None) -> Any:
    """``AutoModel`` from the checkpoint, with stored names under ``prefix`` mapped onto it.

    transformers initialises any weight it cannot find at random and only logs it; a reward read
    from such a model is noise, so a missing weight is an error here.
    """
    from transformers import AutoModel

    mapping = {f"^{prefix}\\.": ""} if prefix else None
    model, loading = AutoModel.from_pretrained(
        str(ckpt.path), dtype=dtype, key_mapping=mapping, output_loading_info=True
    )
    shown = missing_weights(loading)
    if shown:
        raise ModelLoadError(
            f"{ckpt.path}: the backbone ({type(model).__name__}) is missing stored weights: {shown}. "
            f"The checkpoint's tensor names do not match its config.json architecture."
        )
    return model.to(device).eval()


def linear_head(ckpt: Checkpoint, prefix: str, *, dtype: Any, device: str) -> Any:
    """A torch Linear from ``{prefix}.weight`` (and ``.bias`` when stored)."""
    import torch

    tensors = ckpt.load_tensors({f"{prefix}.weight", f"{prefix}.bias"})
    weight = tensors.get(f"{prefix}.weight")
    if weight is None:
        raise ModelLoadError(f"{ckpt.path}: no tensor '{prefix}.weight' is stored for the reward head")
    weight = weight.reshape(-1, weight.shape[-1])
    bias = tensors.get(f"{prefix}.bias")
    head = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        head.weight.copy_(weight)
        if bias is not None:
            head.bias.copy_(bias.reshape(-1))
    return head.to(device=device, dtype=dtype).eval()
