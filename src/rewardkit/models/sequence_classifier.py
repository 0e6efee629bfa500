"""Hugging Face ``*ForSequenceClassification`` checkpoints (Llama, Qwen2, Mistral, Gemma2, GPT-NeoX, BERT, ...).

Decoder classifiers carry a linear ``score`` head applied to every token; transformers then picks the
last token that is not the pad id, which is wrong whenever the pad id also appears as a real token
(pad == eos). rewardkit runs the backbone and applies ``score`` at the last token of the attention
mask instead. Encoders (a ``classifier`` over a pooled first token) run their own forward on
right-padded inputs, which is exactly how they were trained. Several labels are several named
outputs (id2label); ``--objective`` picks the reward. Custom classes live in custom_code.py.
"""

from __future__ import annotations

from typing import Any

from rewardkit.models.base import LoadedModel
from rewardkit.models.checkpoint import Checkpoint
from rewardkit.models.format import Loading, ModelFormat, assemble
from rewardkit.models.packing import Packing
from rewardkit.models.pooling import gather_last

__all__ = ["FORMAT", "SequenceClassifierModel"]


class SequenceClassifierModel(Packing, LoadedModel):
    def forward(self, input_ids: Any, attention_mask: Any) -> Any:
        if self.head is None:
            return self.module(input_ids=input_ids, attention_mask=attention_mask).logits.float()
        return self.head(self.pooled(input_ids, attention_mask)).float()

    def packing_backbone(self) -> Any:
        return self.module.base_model

    def pooled(self, input_ids: Any, attention_mask: Any) -> Any:
        """The hidden state the ``score`` head reads: the backbone's at the last attended token.
        Training a head on these features trains exactly what serving computes."""
        hidden = self.module.base_model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)[0]
        return gather_last(hidden, attention_mask)


def detect(ckpt: Checkpoint) -> str | None:
    names = [a for a in ckpt.architectures if a.endswith("ForSequenceClassification")]
    return f"config.json architectures={names}" if names else None


def load(source: Loading) -> LoadedModel:
    ckpt, dtype, device = source.ckpt, source.dtype, source.device
    import torch
    from transformers import AutoModelForSequenceClassification

    module = AutoModelForSequenceClassification.from_pretrained(str(ckpt.path), dtype=dtype)
    module.to(device).eval()
    score = getattr(module, "score", None)
    head = score if isinstance(score, torch.nn.Linear) else None
    if head is not None:
        head_text = f"score: Linear({head.in_features} -> {head.out_features})"
        pooling = "last non-padding token (attention mask), applied by rewardkit"
    else:
        classifier = getattr(module, "classifier", None)
        head_text = type(classifier).__name__ if classifier is not None else "the model's own"
        pooling = "the model's own (right-padded inputs with attention mask)"
    return assemble(
        SequenceClassifierModel,
        FORMAT,
        source,
        module=module,
        head=head,
        head_text=head_text,
        pooling=pooling,
        num_labels=int(module.config.num_labels),
    )


FORMAT = ModelFormat(
    "hf-sequence-classification", "config.architectures names a *ForSequenceClassification class", detect, load
)
