"""athene-rm: Nexusflow/Athene-RM-8B and Athene-RM-70B, a Llama-3 decoder with a bias-free
``v_head`` in a class its model card defines (AtheneForSequenceClassification; config.json names
``CustomAutoModelForSequenceClassification``, and no code ships with the weights).

What the card runs (huggingface.co/Nexusflow/Athene-RM-8B, the same for -70B): a text-classification
pipeline whose preprocessing renders the conversation with ``apply_chat_template(tokenize=False)``,
appends the tokenizer's ``cls_token`` as text and tokenizes that with special tokens (so the ids
start with the BOS the tokenizer adds and the BOS the template writes: both are kept here, as the
card has them); the class applies ``v_head`` to the decoder's last hidden state and reads it at the
last position holding the CLS id (the card's ``CLS_ID``, 128003 for Athene's
``<|reserved_special_token_1|>``, the tokenizer's ``cls_token``), which is the appended last token.

On disk: ``model.*`` (LlamaModel) and ``v_head.weight``. Without this recipe such a folder looks
like a DeepSpeed-Chat v-head, read before the first pad id: not the card's rule. Detected from the
class names in config.json, before the generic formats. The backbone runs packed; texts sent whole
(/get_reward) get the CLS token appended unless it is already last.
"""

from __future__ import annotations

from typing import Any

from rewardkit.errors import ModelLoadError
from rewardkit.models.base import LoadedModel
from rewardkit.models.checkpoint import Checkpoint
from rewardkit.models.format import Loading
from rewardkit.models.recipes._recipe import (
    Recipe,
    chat_template_text,
    require_chat_template,
    require_head,
    single_token,
    value_head_over_backbone,
)
from rewardkit.templating import Rendering

__all__ = ["RECIPE"]

CLASSES = ("AtheneForSequenceClassification", "CustomAutoModelForSequenceClassification")


def detect(ckpt: Checkpoint) -> str | None:
    named = next((a for a in ckpt.architectures if a in CLASSES), None)
    if named is None or "v_head.weight" not in ckpt.tensor_names:
        return None
    return f"config.json architectures names {named}, with a stored v_head.weight"


def cls_token(tokenizer: Any) -> tuple[str, int]:
    """The tokenizer's ``cls_token`` (the text the card appends) and its one id."""
    token = getattr(tokenizer, "cls_token", None)
    if not token:
        raise ModelLoadError(
            "the athene-rm recipe appends the tokenizer's cls_token (Athene's <|reserved_special_token_1|>) and "
            "reads the reward there, but this tokenizer has no cls_token"
        )
    return token, single_token(tokenizer, token, "athene-rm", "the CLS token")


def load(source: Loading) -> LoadedModel:
    tokenizer = source.tokenizer
    require_head(source.ckpt, "athene-rm", "v_head")
    token, token_id = cls_token(tokenizer)
    require_chat_template(tokenizer, "athene-rm", "templates the conversation as the card does")
    model = value_head_over_backbone(
        RECIPE,
        source,
        head="v_head",
        prefix="model",
        head_text=f", read at the CLS token {token!r} ({token_id})",
        pooling="the appended CLS token, the last token (attention mask)",
    )
    model.rendering = Rendering(
        name=f"athene-rm: the chat template, then {token!r}, tokenized with special tokens (both BOS kept)",
        conversation=lambda tok, conversation: chat_template_text(tok, conversation) + token,
        suffix=(token_id,),
        keep_doubled_bos=True,
    )
    return model


RECIPE = Recipe(
    name="athene-rm",
    description="Athene-RM-8B/70B: chat template + the CLS token, the card's v_head at that token",
    detect=detect,
    load=load,
    family="Nexusflow/Athene-RM-8B, Athene-RM-70B (AtheneForSequenceClassification, defined on the card)",
    card="huggingface.co/Nexusflow/Athene-RM-8B (model card snippet); huggingface.co/Nexusflow/Athene-RM-70B",
    rule=(
        "chat template over the conversation as text, the tokenizer's cls_token appended, tokenized with special "
        "tokens (the template's BOS and the tokenizer's both kept, as the card's ids); reward = v_head(h) at the "
        "CLS token, the last one, h the decoder's last hidden state"
    ),
)
