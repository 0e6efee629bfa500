"""inf-orm: infly/INF-ORM-Llama3.1-70B, a Llama-3.1 decoder with a two-layer score head (Linear,
ReLU, Linear) in a class its model card defines, INFORMForSequenceClassification (no auto_map).

What the card runs (huggingface.co/infly/INF-ORM-Llama3.1-70B; the same class is in
github.com/allenai/reward-bench rewardbench/models/inform.py): the conversation through
``apply_chat_template(conv, tokenize=True)``, one forward, ``logits[0][0]``: the score head over
the last hidden state at the last token (its pad-based pooling finds no pad in one unpadded
sequence and reads position -1).

On disk the folder holds ``model.*`` (LlamaModel) and ``score.0.*`` / ``score.2.*``; no generic
format reads that head, so it is detected from its architecture name. The backbone runs packed
where it can, the head applied at each sequence's last token only.
"""

from __future__ import annotations

from typing import Any

from rewardkit.errors import ModelLoadError
from rewardkit.models.backbone import linear_head, load_backbone
from rewardkit.models.base import LoadedModel
from rewardkit.models.checkpoint import Checkpoint
from rewardkit.models.format import Loading
from rewardkit.models.recipes._recipe import Recipe, reward_model
from rewardkit.models.value_head import ValueHeadModel

__all__ = ["RECIPE"]

CLASS = "INFORMForSequenceClassification"


def detect(ckpt: Checkpoint) -> str | None:
    return f"config.json architectures names {CLASS}" if CLASS in ckpt.architectures else None


def score_head(ckpt: Checkpoint, dtype: Any, device: str) -> Any:
    import torch

    names = ckpt.tensor_names
    missing = [f"score.{i}.{p}" for i in (0, 2) for p in ("weight", "bias") if f"score.{i}.{p}" not in names]
    if missing:
        raise ModelLoadError(
            f"{ckpt.path}: the inf-orm recipe reads the card's score head Linear-ReLU-Linear ('score.0', 'score.2'); "
            f"not stored: {', '.join(missing)}"
        )
    first = linear_head(ckpt, "score.0", dtype=dtype, device=device)
    last = linear_head(ckpt, "score.2", dtype=dtype, device=device)
    return torch.nn.Sequential(first, torch.nn.ReLU(), last).eval()


def load(source: Loading) -> LoadedModel:
    ckpt, dtype, device = source.ckpt, source.dtype, source.device
    head = score_head(ckpt, dtype, device)
    backbone = load_backbone(ckpt, dtype=dtype, device=device, prefix="model")
    return reward_model(
        ValueHeadModel,
        RECIPE,
        source,
        module=backbone,
        head=head,
        head_text=f"score: Linear({head[0].in_features} -> {head[0].out_features}), ReLU, Linear(-> 1)",
        pooling="last token (attention mask)",
    )


RECIPE = Recipe(
    name="inf-orm",
    description="INF-ORM-Llama3.1-70B: the card's Linear-ReLU-Linear score head at the last token",
    detect=detect,
    load=load,
    family="infly/INF-ORM-Llama3.1-70B (INFORMForSequenceClassification, defined on its card)",
    card="huggingface.co/infly/INF-ORM-Llama3.1-70B (model card); reward-bench rewardbench/models/inform.py",
    rule=(
        "chat template over the conversation, tokenized as apply_chat_template does (one BOS); reward = "
        "score.2(relu(score.0(h))) at the last token, h the decoder's last hidden state"
    ),
)
