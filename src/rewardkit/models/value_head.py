"""Backbone + value head, the layout OpenRLHF saves for reward models.

State dict: the backbone under its base-model prefix (``model.`` for Llama) and a linear head under
``value_head_prefix`` (config.json; ``score`` today, ``value_head`` in older releases). The head is
applied to the last hidden state and read at the last attended token; config.json may carry
``normalize_reward``, ``mean`` and ``std``.
"""

from __future__ import annotations

from typing import Any

from rewardkit.errors import ModelLoadError
from rewardkit.models.backbone import linear_head, load_backbone
from rewardkit.models.base import LoadedModel
from rewardkit.models.checkpoint import Checkpoint
from rewardkit.models.format import Loading, ModelFormat, assemble
from rewardkit.models.packing import Packing
from rewardkit.models.pooling import gather_last

__all__ = ["FORMAT", "ValueHeadModel"]

LEGACY_PREFIXES = ("value_head",)


class ValueHeadModel(Packing, LoadedModel):
    def packing_backbone(self) -> Any:
        return self.module

    def forward(self, input_ids: Any, attention_mask: Any) -> Any:
        hidden = self.module(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)[0]
        return self.head(gather_last(hidden, attention_mask)).float()


def head_prefix(ckpt: Checkpoint) -> str | None:
    prefix = ckpt.config.get("value_head_prefix")
    if isinstance(prefix, str) and prefix:
        return prefix
    if any(a.endswith("ForSequenceClassification") for a in ckpt.architectures):
        return None
    for candidate in LEGACY_PREFIXES:
        if f"{candidate}.weight" in ckpt.tensor_names:
            return candidate
    return None


def detect(ckpt: Checkpoint) -> str | None:
    prefix = ckpt.config.get("value_head_prefix")
    if isinstance(prefix, str) and prefix:
        return f"config.json value_head_prefix={prefix!r}"
    found = head_prefix(ckpt)
    return f"a stored '{found}.weight' tensor (older OpenRLHF)" if found else None


def load(source: Loading) -> LoadedModel:
    ckpt, dtype, device = source.ckpt, source.dtype, source.device
    prefix = head_prefix(ckpt)
    if prefix is None:
        raise ModelLoadError(f"{ckpt.path}: no value head found")
    head = linear_head(ckpt, prefix, dtype=dtype, device=device)
    backbone = load_backbone(ckpt, dtype=dtype, device=device)
    return assemble(
        ValueHeadModel,
        FORMAT,
        source,
        module=backbone,
        head=head,
        head_text=f"{prefix}: Linear({head.in_features} -> {head.out_features})",
        pooling="last non-padding token (attention mask)",
        num_labels=head.out_features,
    )


LAYOUT = "a backbone plus a linear value head named by value_head_prefix in config.json (OpenRLHF)"
FORMAT = ModelFormat("value-head", LAYOUT, detect, load)
