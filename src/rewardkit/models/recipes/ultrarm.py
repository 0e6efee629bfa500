"""ultrarm: openbmb/UltraRM-13b and openbmb/Eurus-RM-7b, a decoder (``model.*``: Llama-2 for UltraRM,
Mistral for Eurus-RM) with a bias-free ``regression_head``, in classes their cards define
(UltraRM's LlamaRewardModel on its card; Eurus-RM's EurusRewardModel in the modeling file it ships).

What the cards run (huggingface.co/openbmb/UltraRM-13b, huggingface.co/openbmb/Eurus-RM-7b): one
text per sample, ``"Human: {instruction}\\nAssistant: {completion}"`` for UltraRM and
``"[INST] {instruction} [/INST] {completion}"`` for Eurus-RM, ``tokenizer(text)`` with its special
tokens (BOS), one forward; the class applies ``regression_head`` to the decoder's last hidden state
and reads it where ``attention_mask.cumsum(dim=1).argmax(dim=1)`` points: the last attended token.

Detected from what is on disk, before the generic formats: a stored ``regression_head.weight`` with
the backbone under ``model.``, and either config.json naming EurusRewardModel (its auto_map would
otherwise run its code over the tokenizer's chat template, which is not the card's text) or no
``auto_map`` at all (other shipped code of this shape stays custom-code). The card's text follows
the backbone: Mistral -> Eurus-RM's, else UltraRM's. No custom code runs; the backbone runs packed.
"""

from __future__ import annotations

from rewardkit.models.base import LoadedModel
from rewardkit.models.checkpoint import Checkpoint
from rewardkit.models.format import Loading
from rewardkit.models.recipes._recipe import Recipe, prompt_and_response, value_head_over_backbone
from rewardkit.templating import Rendering

__all__ = ["RECIPE"]

HEAD = "regression_head"
TEXTS = {
    "ultrarm": ("UltraRM's 'Human: {instruction}\\nAssistant: {completion}'", "Human: {0}\nAssistant: {1}"),
    "eurus": ("Eurus-RM's '[INST] {instruction} [/INST] {completion}'", "[INST] {0} [/INST] {1}"),
}


EURUS = "EurusRewardModel"


def detect(ckpt: Checkpoint) -> str | None:
    names = ckpt.tensor_names
    if f"{HEAD}.weight" not in names or not any(n.startswith("model.") for n in names):
        return None
    named = [a for a in ckpt.architectures if a == EURUS] + [v for v in ckpt.auto_map.values() if EURUS in v]
    if named:
        return f"config.json names {named[0]}, with a stored {HEAD}.weight"
    if ckpt.auto_map:
        return None  # other code that ships with its weights says itself how it reads (custom-code)
    return f"a stored {HEAD}.weight beside model.*, no auto_map (UltraRM's class, defined on its card)"


def card_text(ckpt: Checkpoint) -> str:
    """Which card's text: Eurus-RM's for a Mistral backbone, UltraRM's otherwise."""
    return "eurus" if ckpt.config.get("model_type") == "mistral" else "ultrarm"


def load(source: Loading) -> LoadedModel:

    words, text = TEXTS[card_text(source.ckpt)]
    model = value_head_over_backbone(
        RECIPE,
        source,
        head=HEAD,
        prefix="model",
        head_text="",
        pooling="the last attended token (the cards' attention_mask.cumsum(1).argmax(1))",
    )
    model.rendering = Rendering(
        name=f"ultrarm: {words}, tokenized with special tokens",
        conversation=lambda tok, conversation: text.format(*prompt_and_response(conversation)),
    )
    return model


RECIPE = Recipe(
    name="ultrarm",
    description="UltraRM-13b / Eurus-RM-7b: the card's plain text, regression_head at the last token",
    detect=detect,
    load=load,
    family="openbmb/UltraRM-13b (LlamaRewardModel on its card), openbmb/Eurus-RM-7b (EurusRewardModel, shipped code)",
    card="huggingface.co/openbmb/UltraRM-13b, huggingface.co/openbmb/Eurus-RM-7b (model card snippets)",
    rule=(
        "text = 'Human: {instruction}\\nAssistant: {completion}' (UltraRM; Llama backbone) or '[INST] {instruction} "
        "[/INST] {completion}' (Eurus-RM; Mistral backbone), tokenized with special tokens; reward = "
        "regression_head(h) at the last token, h the decoder's last hidden state"
    ),
)
