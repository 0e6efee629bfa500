"""Where the reward is read: the last real (non-padding) token of each row, or the token before the
first pad id (DeepSpeed-Chat / trlx), and the positions of step separators (process reward models)."""

from __future__ import annotations

from typing import Any

__all__ = ["before_first_pad_index", "gather_at", "gather_last", "last_token_index", "step_positions"]


def last_token_index(attention_mask: Any) -> Any:
    """Index of the last attended token per row, for left, right or no padding alike."""
    import torch

    width = attention_mask.shape[1]
    positions = torch.arange(width, device=attention_mask.device).expand_as(attention_mask)
    return (positions * attention_mask.long()).max(dim=1).values


def gather_at(values: Any, index: Any) -> Any:
    """values[b, index[b], ...] for values shaped [batch, seq, ...]."""
    import torch

    return values[torch.arange(values.shape[0], device=values.device), index]


def gather_last(values: Any, attention_mask: Any) -> Any:
    """values[b, last_token_index[b], ...] for values shaped [batch, seq, ...]."""
    return gather_at(values, last_token_index(attention_mask))


def before_first_pad_index(input_ids: Any, attention_mask: Any, pad_id: int, skip: int) -> Any:
    """DeepSpeed-Chat's and trlx's reading position: the token before the (skip+1)-th pad id, where
    positions past the attention mask count as pads; the last token when there are not that many.

    With skip=0 and no pad id inside the text this is the last real token; OPT checkpoints trained
    with DeepSpeed-Chat use skip=1 because their BOS equals the pad id they set (pad = eos).
    """
    import torch

    is_pad = (input_ids == pad_id) | (attention_mask == 0)
    count = is_pad.long().cumsum(dim=1)
    width = input_ids.shape[1]
    positions = torch.arange(width, device=input_ids.device).expand_as(input_ids)
    hit = is_pad & (count == skip + 1)
    first = torch.where(hit, positions, torch.full_like(positions, width)).min(dim=1).values
    return (first - 1).clamp(min=0)


def step_positions(input_ids: Any, attention_mask: Any, separator_id: int) -> list[list[int]]:
    """Per row, the positions of the step separator among attended tokens, in order."""
    hits = (input_ids == separator_id) & (attention_mask != 0)
    return [row.nonzero().flatten().tolist() for row in hits]
