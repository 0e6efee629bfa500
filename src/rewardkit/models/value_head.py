"""Backbone + value head, the layout OpenRLHF saves for reward models.

State dict: the backbone under its base-model prefix (``model.`` for Llama) and a linear head under
``value_head_prefix`` (config.json; ``score`` today, ``value_head`` in older releases). The head is
applied to the last hidden state and read at the last attended token; config.json may carry
``normalize_reward``, ``mean`` and ``std``.
"""

from __future__ import annotations

from typing import Any

from rewardkit.errors import ModelLoadError
from rewardkit.models.base import LoadedModel
from rewardkit.models.checkpoint import Checkpoint
from rewardkit.models.loader import ModelFormat, assemble
from rewardkit.models.pooling import gather_last

__all__ = ["FORMAT", "ValueHeadModel"]

LEGACY_PREFIXES = ("value_head",)


class ValueHeadModel(LoadedModel):
    def forward(self, input_ids: Any, attention_mask: Any) -> Any:
        hidden = self.module(input_ids=input_ids, attention_mask=attention_mask)[0]
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


def detect(ckpt: Checkpoint) -> bool:
    return head_prefix(ckpt) is not None


def load(ckpt: Checkpoint, *, tokenizer: Any, device: str, dtype: Any, config: Any) -> LoadedModel:
    import torch
    from transformers import AutoModel

    prefix = head_prefix(ckpt)
    tensors = ckpt.load_tensors({f"{prefix}.weight", f"{prefix}.bias"})
    weight = tensors.get(f"{prefix}.weight")
    if weight is None:
        raise ModelLoadError(
            f"{ckpt.path}: config says value_head_prefix={prefix!r} but no tensor '{prefix}.weight' is stored"
        )
    weight = weight.reshape(-1, weight.shape[-1])
    bias = tensors.get(f"{prefix}.bias")
    head = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        head.weight.copy_(weight)
        if bias is not None:
            head.bias.copy_(bias.reshape(-1))
    backbone = AutoModel.from_pretrained(str(ckpt.path), dtype=dtype)
    backbone.to(device).eval()
    head.to(device=device, dtype=dtype).eval()
    return assemble(
        ValueHeadModel,
        ckpt,
        FORMAT,
        tokenizer,
        module=backbone,
        head=head,
        dtype=dtype,
        device=device,
        head_text=f"{prefix}: Linear({head.in_features} -> {head.out_features})",
        pooling="last non-padding token (attention mask)",
        num_labels=head.out_features,
    )


FORMAT = ModelFormat(
    name="value-head",
    description="a backbone plus a linear value head named by value_head_prefix in config.json (OpenRLHF)",
    detect=detect,
    load=load,
)
