"""The built-in model's trainable top: a low-rank update of the final decoder block's MLP, and the
score row, trained on the residual stream entering that MLP at the token the reward is read from.

Why exactly this part: with the reward read at one token, everything after the final block's
attention (its MLP, the final norm, the score) acts on that token alone. So one cached vector per
conversation is all the training needs, and it is exact: no backward pass through the backbone,
which 2 CPU cores cannot afford. The served model is the standard checkpoint with the update merged
into the MLP's weights (models/final_mlp.py), so the serving path does not change at all.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from rewardkit.models.final_mlp import MLP_PROJECTIONS, final_parts

__all__ = ["FinalBlock", "LowRankLinear", "train_final_block"]


class LowRankLinear(torch.nn.Module):
    """A frozen linear layer plus ``scale * B @ A`` (B starts at zero, so the update starts at none)."""

    def __init__(self, base: torch.nn.Linear, rank: int, alpha: float, generator: torch.Generator) -> None:
        super().__init__()
        self.base = base.requires_grad_(False)
        self.scale = alpha / rank if rank else 0.0
        self.a = torch.nn.Parameter(torch.randn(rank, base.in_features, generator=generator) / base.in_features**0.5)
        self.b = torch.nn.Parameter(torch.zeros(base.out_features, rank))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scale * ((x @ self.a.T) @ self.b.T)

    def delta(self) -> torch.Tensor:
        return self.scale * (self.b @ self.a)


class FinalBlock(torch.nn.Module):
    """reward(h) = score . norm(h + MLP'(post_attention_norm(h))), where h is the final-MLP input and
    MLP' the final block's MLP with a rank-``rank`` update on each projection; rank 0 is the plain
    linear head on the backbone's last hidden state."""

    def __init__(self, backbone: Any, score: torch.Tensor, rank: int = 8, alpha: float = 16.0, seed: int = 0) -> None:
        super().__init__()
        layer, norm = final_parts(backbone)
        generator = torch.Generator().manual_seed(seed)
        self.post_attention_norm = copy.deepcopy(layer.post_attention_layernorm).float().requires_grad_(False)
        self.mlp = copy.deepcopy(layer.mlp).float().requires_grad_(False)
        for name in MLP_PROJECTIONS:
            setattr(self.mlp, name, LowRankLinear(getattr(self.mlp, name), rank, alpha, generator))
        self.norm = copy.deepcopy(norm).float().requires_grad_(False)
        self.score = torch.nn.Parameter(torch.as_tensor(score, dtype=torch.float32).reshape(1, -1).clone())
        self.rank = rank

    def hidden(self, h: torch.Tensor) -> torch.Tensor:
        """The backbone's last hidden state, as the served model computes it from ``h``."""
        return self.norm(h + self.mlp(self.post_attention_norm(h)))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return (self.hidden(h) @ self.score.T).squeeze(-1)

    @classmethod
    def from_head(cls, backbone: Any, score: Any, update: dict[str, torch.Tensor] | None) -> FinalBlock:
        """A shipped head (score row, and its update as ``update()`` gives it, or None) as a FinalBlock."""
        if update is None:
            return cls(backbone, score, rank=0)
        rank = int(update["gate_proj.a"].shape[0])
        block = cls(backbone, score, rank=rank, alpha=float(update["scale"]) * rank)
        with torch.no_grad():
            for name in MLP_PROJECTIONS:
                part = getattr(block.mlp, name)
                part.a.copy_(update[f"{name}.a"])
                part.b.copy_(update[f"{name}.b"])
        return block

    def update(self) -> dict[str, torch.Tensor]:
        """The low-rank factors by projection name (``{name}.a``, ``{name}.b``) and their scale."""
        out = {"scale": torch.tensor(self.mlp.gate_proj.scale)}
        for name in MLP_PROJECTIONS:
            part = getattr(self.mlp, name)
            out[f"{name}.a"], out[f"{name}.b"] = part.a.detach().clone(), part.b.detach().clone()
        return out


def train_final_block(
    block: FinalBlock,
    chosen: torch.Tensor,
    rejected: torch.Tensor,
    target: torch.Tensor,
    *,
    epochs: int,
    learning_rate: float = 1e-4,
    batch_size: int = 64,
    seed: int = 0,
    snapshots: tuple[int, ...] = (),
) -> tuple[list[float], dict[int, dict[str, torch.Tensor]]]:
    """Train ``block``'s update and score row in place with the soft-label Bradley-Terry loss on
    final-MLP inputs; (mean loss per epoch, the block's state after each epoch in ``snapshots``).
    A few minutes on CPU at most, so it is not resumable: a stopped run starts again."""
    from rewardkit.training.losses import bradley_terry_loss

    generator = torch.Generator().manual_seed(seed)
    trainable = [p for p in block.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=0.0)
    losses: list[float] = []
    saved: dict[int, dict[str, torch.Tensor]] = {}
    for epoch in range(1, epochs + 1):
        order = torch.randperm(chosen.shape[0], generator=generator)
        total = 0.0
        for begin in range(0, len(order), batch_size):
            rows = order[begin : begin + batch_size]
            loss = bradley_terry_loss(block(chosen[rows]), block(rejected[rows]), target=target[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(rows)
        losses.append(total / len(order))
        if epoch in snapshots:
            saved[epoch] = {k: v.detach().clone() for k, v in block.state_dict().items()}
    return losses, saved
