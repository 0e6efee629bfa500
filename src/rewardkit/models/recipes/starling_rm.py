"""starling-rm: Nexusflow/Starling-RM-34B, a Yi-34B-Chat decoder (stored as ``transformer.*``) with a
bias-free ``v_head``, in a class its model card defines (a LlamaForSequenceClassification of its
own: config.json names that architecture, but the weights are not transformers' ``model.*`` and
``score``).

What the card runs (huggingface.co/Nexusflow/Starling-RM-34B): each sample is one text in Yi's
ChatML turns, ``<|im_start|>user\\n{prompt}<|im_end|>\\n<|im_start|>assistant\\n{response}<|im_end|>``
(no newline after the last turn, unlike Yi's chat template), tokenized with the tokenizer's
defaults and padded with ``<unk>``; the class applies ``v_head`` to the decoder's last hidden state
and reads it at the token before the first id 0 (its ``PAD_ID``, Yi's ``<unk>``): on one unpadded
sequence, the last token.

Without this recipe the folder looks like a DeepSpeed-Chat v-head (the token before the first pad
id, over the chat template's text, which ends in a newline the card does not write). Detected from
what is on disk: that architecture name with ``v_head.weight`` and ``transformer.*`` stored and no
``score.weight``. The backbone runs packed.

berkeley-nest/Starling-RM-7B-alpha is not read here: its card builds the model from meta-llama's
Llama-2-7b-chat-hf files and loads the repository's state dict of its GPTRewardModel over them
(docs/formats.md says what that card computes).
"""

from __future__ import annotations

from typing import Any

from rewardkit.errors import ModelLoadError
from rewardkit.models.base import LoadedModel
from rewardkit.models.checkpoint import Checkpoint
from rewardkit.models.format import Loading
from rewardkit.models.recipes._recipe import Recipe, require_head, value_head_over_backbone
from rewardkit.templating import Rendering

__all__ = ["RECIPE"]

CLASS = "LlamaForSequenceClassification"


def detect(ckpt: Checkpoint) -> str | None:
    names = ckpt.tensor_names
    if CLASS not in ckpt.architectures or "v_head.weight" not in names or "score.weight" in names:
        return None
    if not any(n.startswith("transformer.") for n in names):
        return None
    return f"config.json architectures names {CLASS}, stored as transformer.* with a v_head.weight (no score)"


def chatml_turns(tokenizer: Any, conversation: Any) -> str:
    """The card's sample text: each message as a ChatML turn, turns joined by one newline, none after the last."""
    return "\n".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>" for m in conversation)


def load(source: Loading) -> LoadedModel:
    tokenizer = source.tokenizer
    require_head(source.ckpt, "starling-rm", "v_head")
    missing = [t for t in ("<|im_start|>", "<|im_end|>") if len(tokenizer.encode(t, add_special_tokens=False)) != 1]
    if missing:
        raise ModelLoadError(
            f"the starling-rm recipe writes Yi's ChatML turns, but this tokenizer does not have {', '.join(missing)} "
            "as one token each"
        )
    model = value_head_over_backbone(
        RECIPE,
        source,
        head="v_head",
        prefix="transformer",
        head_text=" over transformer.*",
        pooling="the last token (attention mask): the card's token before the first <unk> pad",
    )
    model.rendering = Rendering(
        name="starling-rm: ChatML turns joined by a newline, none after the last (the card's sample text)",
        conversation=chatml_turns,
    )
    return model


RECIPE = Recipe(
    name="starling-rm",
    description="Starling-RM-34B: the card's ChatML text, its v_head at the last token",
    detect=detect,
    load=load,
    family="Nexusflow/Starling-RM-34B (the card's own LlamaForSequenceClassification: transformer.* + v_head)",
    card="huggingface.co/Nexusflow/Starling-RM-34B (model card snippet)",
    rule=(
        "'<|im_start|>{role}\\n{content}<|im_end|>' per message, joined by '\\n' (no newline after the last), "
        "tokenized with the tokenizer's defaults; reward = v_head(h) at the last token (the card's token before "
        "the first pad id 0), h the decoder's last hidden state"
    ),
)
