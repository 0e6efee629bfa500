"""nemotron-reward: nvidia/Llama-3.1-Nemotron-70B-Reward-HF, a Llama-3.1-70B causal LM whose reward
is the logit of vocabulary id 0 at the last position.

What its model card's snippet does (huggingface.co/nvidia/Llama-3.1-Nemotron-70B-Reward-HF): the
conversation (user prompt, assistant response) goes through ``apply_chat_template`` (tokenized, no
generation prompt), then ``generate(max_new_tokens=1, return_dict_in_generate=True,
output_scores=True)``; the reward is ``scores[0][0][0]``: the first generated position's score of
vocabulary id 0, i.e. the raw logit of id 0 at the last input position (greedy generation applies
no logits processor). The id is the card's own, not a token found from text.

rewardkit applies that one LM head row to the last hidden state only.
"""

from __future__ import annotations

from rewardkit.models.base import LoadedModel
from rewardkit.models.checkpoint import Checkpoint
from rewardkit.models.format import Loading
from rewardkit.models.recipes._lm_rows import LastTokenReader, require_causal_lm, rows_model
from rewardkit.models.recipes._recipe import (
    Recipe,
    causal_lm_architecture,
    chat_template_text,
    named_on_disk,
    require_chat_template,
)
from rewardkit.templating import Rendering

__all__ = ["RECIPE"]

REWARD_ID = 0


def detect(ckpt: Checkpoint) -> str | None:
    if causal_lm_architecture(ckpt) is None:
        return None
    return named_on_disk(ckpt, r"llama-3\.1-nemotron-70b-reward-hf")


def load(source: Loading) -> LoadedModel:
    require_causal_lm(source, RECIPE)
    require_chat_template(
        source.tokenizer, "nemotron-reward", "templates the conversation as the card does (apply_chat_template)"
    )
    token = source.tokenizer.convert_ids_to_tokens(REWARD_ID)
    return rows_model(
        source,
        RECIPE,
        (REWARD_ID,),
        head_text=f"LM head row of vocabulary id {REWARD_ID} ({token!r})",
        pooling="the raw logit of id 0 at the last token",
        reader=LastTokenReader("logit"),
        rendering=Rendering(
            name="nemotron-reward: the chat template, no generation prompt, tokenized as apply_chat_template does",
            conversation=chat_template_text,
            special_tokens=False,
        ),
    )


RECIPE = Recipe(
    name="nemotron-reward",
    description="Llama-3.1-Nemotron-70B-Reward-HF: the raw logit of vocabulary id 0 at the last position",
    detect=detect,
    load=load,
    by_name=True,
    family="nvidia/Llama-3.1-Nemotron-70B-Reward-HF (causal LM)",
    card="huggingface.co/nvidia/Llama-3.1-Nemotron-70B-Reward-HF (model card snippet)",
    rule=(
        "chat template over the conversation (no generation prompt); reward = the raw logit of vocabulary id 0 at "
        "the last position (what the card's one-token generate returns as scores[0][0][0])"
    ),
)
