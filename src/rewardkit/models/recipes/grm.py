"""grm: Ray2333's GRM-*-rewardmodel-ft (GRM-Llama3.2-3B-, GRM-Llama3-8B-, GRM_Llama3.1_8B_,
GRM-gemma2-2B-, GRM-Gemma-2B-rewardmodel-ft): plain transformers sequence classifiers whose ids
are not the chat template's.

What their cards run (huggingface.co/Ray2333/GRM-Llama3.2-3B-rewardmodel-ft and siblings), and what
the authors' training code feeds them (github.com/YangRui2015/Generalizable-Reward-Model,
reward_models/load_datasets.py): ``apply_chat_template(messages, tokenize=False)``, then
``tokenizer.encode_plus(text)`` (``tokenizer(text)`` in transformers 5) with special tokens, so a
Llama-3 or Gemma template's BOS and the tokenizer's BOS are both there;
``AutoModelForSequenceClassification`` reads ``score`` at the last token. The generic
sequence-classifier format drops the doubled BOS (right for cards that tokenize through the
template); this recipe keeps both, as these models were trained and are scored.

Detected before the generic formats from a *ForSequenceClassification config.json together with
the published name on disk (folder or ``_name_or_path``): nothing else tells these files from any
other classifier. The -sftreg models ship their own class behind auto_map and stay custom-code.
"""

from __future__ import annotations

from rewardkit.errors import ModelLoadError
from rewardkit.models.backbone import missing_weights
from rewardkit.models.base import LoadedModel
from rewardkit.models.checkpoint import Checkpoint
from rewardkit.models.format import Loading
from rewardkit.models.recipes._recipe import (
    Recipe,
    chat_template_text,
    named_on_disk,
    require_chat_template,
    reward_model,
)
from rewardkit.models.sequence_classifier import SequenceClassifierModel
from rewardkit.templating import Rendering

__all__ = ["RECIPE"]

NAME = r"GRM[-_][\w.-]*?rewardmodel-ft"


def classifier_architecture(ckpt: Checkpoint) -> str | None:
    return next((a for a in ckpt.architectures if a.endswith("ForSequenceClassification")), None)


def detect(ckpt: Checkpoint) -> str | None:
    if classifier_architecture(ckpt) is None:
        return None
    return named_on_disk(ckpt, NAME)


def load(source: Loading) -> LoadedModel:
    ckpt, tokenizer, dtype, device = source.ckpt, source.tokenizer, source.dtype, source.device
    if classifier_architecture(ckpt) is None:
        raise ModelLoadError(
            f"{ckpt.path}: the grm recipe reads a transformers *ForSequenceClassification (GRM-*-rewardmodel-ft), "
            f"but config.json architectures={ckpt.architectures or 'none'}"
        )
    require_chat_template(tokenizer, "grm", "templates the conversation as the card does")
    import torch
    from transformers import AutoModelForSequenceClassification

    module, loading = AutoModelForSequenceClassification.from_pretrained(
        str(ckpt.path), dtype=dtype, output_loading_info=True
    )
    shown = missing_weights(loading)
    if shown:
        raise ModelLoadError(f"{ckpt.path}: the grm recipe reads a transformers classifier; not stored: {shown}")
    module.to(device).eval()
    head = getattr(module, "score", None)
    if not isinstance(head, torch.nn.Linear) or head.out_features != 1:
        raise ModelLoadError(f"{ckpt.path}: the grm recipe reads a one-output linear 'score' head; this model has none")
    model = reward_model(
        SequenceClassifierModel,
        RECIPE,
        source,
        module=module,
        head=head,
        head_text=f"score: Linear({head.in_features} -> 1)",
        pooling="the last token (attention mask), applied by rewardkit",
    )
    model.rendering = Rendering(
        name="grm: the chat template as text, tokenized with special tokens (both BOS kept, as the card)",
        conversation=chat_template_text,
        keep_doubled_bos=True,
    )
    return model


RECIPE = Recipe(
    name="grm",
    description="GRM-*-rewardmodel-ft: the templated text tokenized with BOS again (two), score at the last token",
    detect=detect,
    load=load,
    family="Ray2333/GRM-*-rewardmodel-ft (transformers sequence classifiers)",
    card=(
        "huggingface.co/Ray2333/GRM-Llama3.2-3B-rewardmodel-ft (model card snippet); "
        "github.com/YangRui2015/Generalizable-Reward-Model reward_models/load_datasets.py"
    ),
    rule=(
        "chat template over the conversation as text, tokenized with special tokens (the template's BOS and the "
        "tokenizer's both kept, as the card's encode_plus gives them); reward = score(h) at the last token"
    ),
)
