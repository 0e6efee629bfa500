"""A linear reward head trained on cached features with the Bradley-Terry loss.

Knows tensors only: features in, a weight out. Each seed gives its own initialization and data
order (the recipe for ensembles by seed). State is saved after every epoch, so a run that stops
continues from the last finished epoch with the same result it would have reached.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rewardkit.data.files import atomic_path
from rewardkit.training.losses import bradley_terry_loss

__all__ = ["HeadTraining", "draw_head", "train_head"]


@dataclass(frozen=True)
class HeadTraining:
    num_train_epochs: int = 20
    learning_rate: float = 1e-3
    per_device_train_batch_size: int = 64
    weight_decay: float = 0.0
    center_rewards_coefficient: float = 0.0
    seed: int = 0


def train_head(
    chosen: Any,
    rejected: Any,
    margin: Any,
    settings: HeadTraining,
    *,
    state_path: Path | None = None,
    progress: bool = False,
    target: Any = None,
) -> tuple[Any, list[float]]:
    """(weight [1, hidden], mean loss per epoch). ``target`` (P(chosen better) per pair) trains on soft
    labels; without it every label is hard. A saved state resumes only when the settings and the
    training data (features, margins and targets, by digest) are exactly those it was saved with;
    the epoch count may grow, which continues the run exactly (the learning rate is constant)."""
    import torch
    from tqdm.auto import tqdm

    hidden = chosen.shape[1]
    generator = torch.Generator().manual_seed(settings.seed)
    weight = torch.nn.Parameter(draw_head(hidden, generator))
    optimizer = torch.optim.AdamW([weight], lr=settings.learning_rate, weight_decay=settings.weight_decay)
    losses: list[float] = []
    start = 0
    data = (chosen, rejected, margin) if target is None else (chosen, rejected, margin, target)
    fingerprint = _fingerprint(*data) if state_path is not None else ""
    if state_path is not None and state_path.exists():
        state = torch.load(state_path, weights_only=False)
        same_run = state["settings"] == _resumable(settings) and state.get("data") == fingerprint
        if same_run and state["epoch"] <= settings.num_train_epochs:
            weight.data.copy_(state["weight"])
            optimizer.load_state_dict(state["optimizer"])
            generator.set_state(state["generator"])
            losses, start = state["losses"], state["epoch"]
    for epoch in tqdm(range(start, settings.num_train_epochs), disable=not progress, desc="epochs", initial=start):
        order = torch.randperm(chosen.shape[0], generator=generator)
        total = 0.0
        for begin in range(0, len(order), settings.per_device_train_batch_size):
            rows = order[begin : begin + settings.per_device_train_batch_size]
            loss = bradley_terry_loss(
                chosen[rows] @ weight.T,
                rejected[rows] @ weight.T,
                margin[rows, None],
                center_rewards_coefficient=settings.center_rewards_coefficient,
                target=None if target is None else target[rows, None],
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(rows)
        losses.append(total / len(order))
        if state_path is not None:
            state = {
                "settings": _resumable(settings),
                "data": fingerprint,
                "weight": weight.detach().clone(),
                "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(),
                "losses": losses,
                "epoch": epoch + 1,
            }
            with atomic_path(state_path) as tmp:
                torch.save(state, tmp)
    return weight.detach().clone(), losses


def draw_head(hidden: int, generator: Any) -> Any:
    """A fresh [1, hidden] reward head from ``generator``, scaled so initial rewards are O(1); every
    training mode draws its head this way, so a seed means the same start in each."""
    import torch

    return torch.randn(1, hidden, generator=generator) / hidden**0.5


def _resumable(settings: HeadTraining) -> dict[str, Any]:
    return {k: v for k, v in asdict(settings).items() if k != "num_train_epochs"}


def _fingerprint(*tensors: Any) -> str:
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()
