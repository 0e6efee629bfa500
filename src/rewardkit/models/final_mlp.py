"""The final decoder block's MLP as the built-in model uses it: read the residual stream entering it
(the features its trainable top is trained on, training/final_block.py), and merge a trained
low-rank update into its weights (what the served checkpoint carries).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["FINAL_MLP_INPUT", "MLP_PROJECTIONS", "final_mlp_input", "final_parts", "merge_update"]

FINAL_MLP_INPUT = "final-mlp-input"
"""Appended to a feature cache's model id: the cached vectors are final-MLP inputs, not pooled states."""

MLP_PROJECTIONS = ("gate_proj", "up_proj", "down_proj")


def final_parts(backbone: Any) -> tuple[Any, Any]:
    """(final decoder layer, final norm) of a Llama-style decoder backbone."""
    layers, norm = getattr(backbone, "layers", None), getattr(backbone, "norm", None)
    if layers is None or norm is None or not hasattr(layers[-1], "mlp"):
        name = type(backbone).__name__
        raise ValueError(f"{name} has no `layers[-1].mlp` and `norm`; a Llama-style decoder is needed")
    return layers[-1], norm


@contextmanager
def final_mlp_input(backbone: Any) -> Iterator[None]:
    """While open, the backbone's last hidden state at every token is the residual entering its final
    MLP: that MLP answers zeros and the final norm passes its input through. Any forward (padded or
    packed) then pools these states exactly where it pools the usual ones."""
    import torch

    class Zero(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            return torch.zeros_like(x)

    layer, norm = final_parts(backbone)
    mlp = layer.mlp
    layer.mlp, backbone.norm = Zero(), torch.nn.Identity()
    try:
        yield
    finally:
        layer.mlp, backbone.norm = mlp, norm


def merge_update(backbone: Any, update: dict[str, Any]) -> None:
    """Add a low-rank update (``{projection}.a``, ``{projection}.b`` and ``scale``, as
    FinalBlock.update() gives it) into the backbone's final MLP weights, in place."""
    import torch

    layer, _ = final_parts(backbone)
    scale = float(update["scale"])
    with torch.no_grad():
        for name in MLP_PROJECTIONS:
            weight = getattr(layer.mlp, name).weight
            delta = scale * (update[f"{name}.b"].float() @ update[f"{name}.a"].float())
            weight.copy_((weight.float() + delta).to(weight.dtype))
