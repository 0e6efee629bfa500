"""How a model family turns inputs into token ids when its model card says so, instead of the
chat template as served: the conversation as the card writes it, whether the tokenizer adds its
special tokens, and ids the card appends. A recipe (models/recipes/) hands the templater one of
these; everything else (truncation, the long-text cut, the doubled BOS) stays the templater's.

Knows the tokenizer's text interface; knows no model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rewardkit.types import Conversation

__all__ = ["Rendering"]


@dataclass(frozen=True)
class Rendering:
    name: str
    """What /info shows as the template: whose rule this is and what it writes, in words."""
    conversation: Callable[[Any, Conversation], str]
    """(tokenizer, a checked conversation ending with the response) -> the text the model reads."""
    special_tokens: bool = True
    """Whether the tokenizer adds its special tokens to that text: False where the card tokenizes
    through ``apply_chat_template(..., tokenize=True)`` (the template writes them) or encodes the
    templated text without them."""
    text_special_tokens: bool = True
    """The same for full texts sent as they are (/get_reward queries, ``score``)."""
    suffix: tuple[int, ...] = ()
    """Ids the card appends to every sequence (InternLM2's reward token); a text that already ends
    with them gets them once."""

    def finish(self, ids: list[int]) -> list[int]:
        """``ids`` with the suffix appended unless they already end with it."""
        n = len(self.suffix)
        if not n or (len(ids) >= n and tuple(ids[-n:]) == self.suffix):
            return ids
        return [*ids, *self.suffix]
