"""Training losses as short pure functions over reward tensors (torch imported by the caller's tensors)."""

from __future__ import annotations

from typing import Any

__all__ = ["bradley_terry_loss"]


def bradley_terry_loss(
    chosen: Any,
    rejected: Any,
    margin: Any = None,
    *,
    center_rewards_coefficient: float = 0.0,
    target: Any = None,
) -> Any:
    """-log sigmoid(r_chosen - r_rejected - margin), averaged; plus, when the coefficient is set, the
    reward-centering term coefficient * mean((r_chosen + r_rejected)^2) that keeps rewards near zero
    (TRL's ``center_rewards_coefficient``). A ``target`` P(chosen better) per pair makes it the
    cross-entropy with that soft label: -[t log sigmoid(gap) + (1 - t) log sigmoid(-gap)]."""
    import torch.nn.functional as F

    gap = chosen - rejected
    if margin is not None:
        gap = gap - margin
    if target is None:
        loss = -F.logsigmoid(gap).mean()
    else:
        loss = -(target * F.logsigmoid(gap) + (1.0 - target) * F.logsigmoid(-gap)).mean()
    if center_rewards_coefficient:
        loss = loss + center_rewards_coefficient * ((chosen + rejected) ** 2).mean()
    return loss
