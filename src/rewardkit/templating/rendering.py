"""How a model family turns inputs into token ids when its model card says so, instead of the
chat template as served: the conversation as the card writes it, whether the tokenizer adds its
special tokens, and ids the card appends. A recipe (models/recipes/) hands the templater one of
these; everything else (truncation, the long-text cut, dropping a doubled BOS unless the card keeps
it) stays the templater's.

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
    keep_doubled_bos: bool = False
    """Keep two leading BOS where the card's ids have both: it renders a template that writes BOS to
    text and tokenizes that with special tokens (Athene-RM). Otherwise one is dropped, as the model
    saw one."""

    def finish(self, ids: list[int]) -> list[int]:
        """``ids`` with the suffix appended unless they already end with it."""
        n = len(self.suffix)
        if not n or (len(ids) >= n and tuple(ids[-n:]) == self.suffix):
            return ids
        return [*ids, *self.suffix]
