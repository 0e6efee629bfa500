"""Where the reward is read: the last real (non-padding) token of each row."""

from __future__ import annotations

from typing import Any

__all__ = ["gather_last", "last_token_index"]


def last_token_index(attention_mask: Any) -> Any:
    """Index of the last attended token per row, for left, right or no padding alike."""
    import torch

    width = attention_mask.shape[1]
    positions = torch.arange(width, device=attention_mask.device).expand_as(attention_mask)
    return (positions * attention_mask.long()).max(dim=1).values


def gather_last(values: Any, attention_mask: Any) -> Any:
    """values[b, last_token_index[b], ...] for values shaped [batch, seq, ...]."""
    import torch

    index = last_token_index(attention_mask)
    return values[torch.arange(values.shape[0], device=values.device), index]
