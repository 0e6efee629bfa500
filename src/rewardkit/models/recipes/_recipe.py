"""What every recipe module builds on: the Recipe record (a ModelFormat with the family, the card
it follows and its reading rule in words) and the checks recipes share: tokens found from their
text the way a card finds them, the prompt and response of a conversation, names on disk, a chat
template; and the one-reward LoadedModel every recipe assembles.

Knows checkpoints and tokenizers; knows no family in particular.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rewardkit.errors import ModelLoadError
from rewardkit.models.backbone import linear_head, load_backbone
from rewardkit.models.base import LoadedModel
from rewardkit.models.checkpoint import Checkpoint
from rewardkit.models.format import Loading, ModelFormat, assemble
from rewardkit.models.value_head import ValueHeadModel
from rewardkit.types import Conversation

__all__ = [
    "Recipe",
    "causal_lm_architecture",
    "chat_template_text",
    "named_on_disk",
    "prompt_and_response",
    "require_chat_template",
    "require_head",
    "reward_model",
    "single_token",
    "value_head_over_backbone",
]


@dataclass(frozen=True)
class Recipe(ModelFormat):
    """A model family read exactly as its card reads it. ``description`` is the one line `rewardkit
    recipes` prints; ``rule`` the reading rule /info shows; ``card`` where the rule comes from."""

    family: str = ""
    card: str = ""
    rule: str = ""
    by_name: bool = False
    """Detected only from the name a checkpoint has on disk (a plain causal LM has nothing else):
    tried after the generic formats, so files that say what they are win over a folder's name."""


def prompt_and_response(conversation: Conversation) -> tuple[str, str]:
    """(prompt, response) of a checked conversation: the response is the last (assistant) message;
    the prompt is the contents of the messages before it joined by newlines (with one user message,
    its content as it is, which is what the cards pass)."""
    return "\n".join(m["content"] for m in conversation[:-1]), conversation[-1]["content"]


def single_token(tokenizer: Any, text: str, recipe: str, what: str) -> int:
    """The one id ``text`` encodes to without special tokens, or an error naming the recipe."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        raise ModelLoadError(
            f"the {recipe} recipe reads {what} {text!r} as one token, but this tokenizer writes it as "
            f"{len(ids)} tokens ({ids}); it does not fit this checkpoint"
        )
    return int(ids[0])


def causal_lm_architecture(ckpt: Checkpoint) -> str | None:
    """The *ForCausalLM class config.json names, if any."""
    return next((a for a in ckpt.architectures if a.endswith("ForCausalLM")), None)


def named_on_disk(ckpt: Checkpoint, pattern: str) -> str | None:
    """Where the checkpoint names a published model matching ``pattern`` (a regex, case-insensitive):
    its folder path (a Hugging Face cache keeps ``models--org--name``; a download keeps the name) or
    config.json's ``_name_or_path``; None when neither does."""
    for where, value in (("folder", str(ckpt.path)), ("config.json _name_or_path", ckpt.config.get("_name_or_path"))):
        if isinstance(value, str) and (found := re.search(pattern, value, flags=re.IGNORECASE)):
            return f"{where} names {found.group(0)!r}"
    return None


def require_chat_template(tokenizer: Any, recipe: str, does: str) -> None:
    """An error naming the recipe and what it ``does`` with the chat template unless the tokenizer has one."""
    if not getattr(tokenizer, "chat_template", None):
        raise ModelLoadError(f"the {recipe} recipe {does}, but this tokenizer has no chat template")


def chat_template_text(tokenizer: Any, conversation: Any) -> str:
    """The conversation through the chat template as text, no generation prompt."""
    return tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=False)


def reward_model(model_cls: type[LoadedModel], recipe: Recipe, source: Loading, **fields: Any) -> LoadedModel:
    """The recipe's LoadedModel with one output, "reward"; ``fields`` go to `assemble`."""
    return assemble(model_cls, recipe, source, num_labels=1, outputs=["reward"], **fields)


def require_head(ckpt: Checkpoint, recipe: str, head: str) -> None:
    """Refuse at load a checkpoint without the reward head the card defines (before any token check)."""
    if f"{head}.weight" not in ckpt.tensor_names:
        raise ModelLoadError(f"{ckpt.path}: the {recipe} recipe reads the card's {head}; '{head}.weight' is not stored")


def value_head_over_backbone(
    recipe: Recipe, source: Loading, *, head: str, prefix: str, head_text: str, pooling: str
) -> LoadedModel:
    """A ValueHeadModel of the stored ``{head}`` linear over the backbone stored under ``prefix``:
    the layout of the recipes whose card defines a reward head of its own (Athene, Starling, UltraRM).
    ``head_text`` describes it after ``{head}: Linear(in -> 1)``."""
    ckpt, dtype, device = source.ckpt, source.dtype, source.device
    require_head(ckpt, recipe.name, head)
    linear = linear_head(ckpt, head, dtype=dtype, device=device)
    return reward_model(
        ValueHeadModel,
        recipe,
        source,
        module=load_backbone(ckpt, dtype=dtype, device=device, prefix=prefix),
        head=linear,
        head_text=f"{head}: Linear({linear.in_features} -> 1){head_text}",
        pooling=pooling,
    )
