"""Reward heads of half-precision models run in float32.

A reward is the head's output: in bf16 it would come in steps of bf16's spacing (1/64 between 2 and
4), which ties candidates in a Best-of-N ranking and coarsens what a trainer learns from, for a head
that costs next to nothing in float32 (vLLM's pooling models keep their heads in float32 too). The
backbone's hidden states stay in the model's dtype up to the head, which reads them in float32.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

__all__ = ["Float32Head", "in_float32"]


class Float32Head(torch.nn.Module):
    """A float32 copy of a head, reading its input in float32."""

    def __init__(self, head: torch.nn.Module) -> None:
        super().__init__()
        self.inner = copy.deepcopy(head).float()

    def forward(self, hidden: torch.Tensor) -> Any:
        return self.inner(hidden.float())


def in_float32(head: Any) -> Any:
    """``head`` wrapped in Float32Head when it is a module with bf16 or fp16 parameters, else itself."""
    if not isinstance(head, torch.nn.Module):
        return head
    if not any(p.dtype in (torch.bfloat16, torch.float16) for p in head.parameters()):
        return head
    return Float32Head(head)
