"""Backbone + ``v_head``, as DeepSpeed-Chat (step 2) and trlx's summarize_rlhf save reward models.

State dict: the backbone under ``rwtranrsformer.`` (DeepSpeed-Chat's spelling) or ``transformer.``
(trlx), a bias-free linear ``v_head``; config.json is the base model's. Both read the reward at the
token before the first pad id, where the pad id is the eos id (both set pad = eos). DeepSpeed-Chat
skips ``num_padding_at_beginning`` pad ids first: 1 for OPT, whose BOS is the same ``</s>``.
"""

from __future__ import annotations

from typing import Any

from rewardkit.errors import ModelLoadError
from rewardkit.models.backbone import linear_head, load_backbone
from rewardkit.models.base import LoadedModel
from rewardkit.models.checkpoint import Checkpoint
from rewardkit.models.format import Loading, ModelFormat, assemble
from rewardkit.models.packing import Packing
from rewardkit.models.pooling import before_first_pad_index, gather_at

__all__ = ["FORMAT", "VHeadModel"]

BACKBONE_PREFIXES = ("rwtranrsformer", "transformer", "model")


class VHeadModel(Packing, LoadedModel):
    def __init__(self, *, read_pad_id: int, skip: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.read_pad_id = read_pad_id
        self.skip = skip

    def forward(self, input_ids: Any, attention_mask: Any) -> Any:
        hidden = self.module(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)[0]
        index = before_first_pad_index(input_ids, attention_mask, self.read_pad_id, self.skip)
        return self.head(gather_at(hidden, index)).float()

    def packing_backbone(self) -> Any:
        return self.module

    def read_positions(self, ids: Any) -> list[int]:
        import torch

        row = torch.tensor([list(ids)])
        return [int(before_first_pad_index(row, torch.ones_like(row), self.read_pad_id, self.skip)[0])]


def backbone_prefix(ckpt: Checkpoint) -> str | None:
    for prefix in BACKBONE_PREFIXES:
        if any(name.startswith(prefix + ".") for name in ckpt.tensor_names):
            return prefix
    return None


def detect(ckpt: Checkpoint) -> str | None:
    if "v_head.weight" not in ckpt.tensor_names:
        return None
    prefix = backbone_prefix(ckpt)
    return f"a stored 'v_head.weight' tensor with the backbone under '{prefix}.'" if prefix else None


def read_pad_id(ckpt: Checkpoint, tokenizer: Any) -> int:
    """The id whose first occurrence ends the text: config.json's pad_token_id (DeepSpeed-Chat
    writes pad = eos there), else the eos id (trlx sets pad = eos at run time)."""
    for value in (ckpt.config.get("pad_token_id"), ckpt.config.get("eos_token_id"), tokenizer.eos_token_id):
        if isinstance(value, int):
            return value
        if isinstance(value, list) and value:
            return int(value[0])
    return int(tokenizer.pad_token_id or 0)


def load(source: Loading) -> LoadedModel:
    ckpt, tokenizer, dtype, device, config = source.ckpt, source.tokenizer, source.dtype, source.device, source.config
    prefix = backbone_prefix(ckpt)
    head = linear_head(ckpt, "v_head", dtype=dtype, device=device)
    backbone = load_backbone(ckpt, dtype=dtype, device=device, prefix=prefix)
    skip = config.num_padding_at_beginning
    if skip is None:
        skip = 1 if ckpt.config.get("model_type") == "opt" else 0
    if skip < 0:
        raise ModelLoadError(f"--num-padding-at-beginning must be 0 or more, got {skip}")
    pad = read_pad_id(ckpt, tokenizer)
    return assemble(
        VHeadModel,
        FORMAT,
        source,
        module=backbone,
        head=head,
        head_text=f"v_head: Linear({head.in_features} -> {head.out_features})",
        pooling=f"token before the first pad id {pad} after skipping {skip} (DeepSpeed-Chat / trlx rule)",
        num_labels=head.out_features,
        read_pad_id=pad,
        skip=skip,
    )


LAYOUT = "a backbone under 'rwtranrsformer.' or 'transformer.' plus a 'v_head' (DeepSpeed-Chat, trlx)"
FORMAT = ModelFormat("v-head", LAYOUT, detect, load)
