"""Hugging Face ``*ForTokenClassification`` checkpoints as reward models: with 2 labels, a process
reward model as TRL's PRMTrainer saves it (P(good) at each step separator); with 1 label, a reward
per token read at the last one."""

from __future__ import annotations

from typing import Any

from rewardkit.models.base import LoadedModel
from rewardkit.models.checkpoint import Checkpoint
from rewardkit.models.format import Loading, ModelFormat, assemble
from rewardkit.models.packing import Packing
from rewardkit.models.token_level import TokenLevelReader, token_reader

__all__ = ["FORMAT", "TokenClassifierModel"]


class TokenClassifierModel(Packing, LoadedModel):
    """Packed, the backbone's hidden states are read only at the step separators and the last
    token, and the per-token head is applied there alone."""

    def __init__(self, *, reader: TokenLevelReader, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reader = reader

    def forward(self, input_ids: Any, attention_mask: Any) -> Any:
        logits = self.module(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
        return self.reader(logits, input_ids, attention_mask)

    def packing_backbone(self) -> Any:
        return self.module.base_model

    def read_positions(self, ids: Any) -> list[int]:
        return self.reader.read_positions(ids)

    def forward_packed(self, sequences: Any) -> Any:
        reads = [self.read_positions(ids) for ids in sequences]
        return self.reader.from_reads(self.packed_head(sequences, reads), reads)


def detect(ckpt: Checkpoint) -> str | None:
    names = [a for a in ckpt.architectures if a.endswith("ForTokenClassification")]
    return f"config.json architectures={names}" if names else None


def load(source: Loading) -> LoadedModel:
    ckpt, tokenizer, dtype, device, config = source.ckpt, source.tokenizer, source.dtype, source.device, source.config
    import torch
    from transformers import AutoModelForTokenClassification

    module = AutoModelForTokenClassification.from_pretrained(str(ckpt.path), dtype=dtype)
    module.to(device).eval()
    num_labels = int(module.config.num_labels)
    reader, pooling, steps = token_reader(ckpt, tokenizer, num_labels, config.step_separator)
    classifier = getattr(module, "score", None) or getattr(module, "classifier", None)
    return assemble(
        TokenClassifierModel,
        FORMAT,
        source,
        module=module,
        head=classifier if isinstance(classifier, torch.nn.Linear) else None,
        head_text=f"per-token {type(classifier).__name__} ({num_labels} labels)",
        pooling=pooling,
        num_labels=1,
        outputs=["reward"],
        steps=steps,
        reader=reader,
    )


LAYOUT = "config.architectures names a *ForTokenClassification class (TRL process reward models)"
FORMAT = ModelFormat("token-classification", LAYOUT, detect, load)
