"""Plain data passed between the steps of the pipeline; no torch, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rewardkit.errors import InvalidInputError

__all__ = [
    "Conversation",
    "Message",
    "ScoreResult",
    "TokenizedItem",
    "as_list",
    "conversation_key",
    "score_inputs",
    "with_answer",
]

Message = dict[str, str]
"""One chat turn: ``{"role": "user" | "assistant" | "system", "content": str}``."""

Conversation = list[Message]


def conversation_key(conversation: Conversation) -> tuple[tuple[str, str], ...]:
    """What makes two conversations the same input: their roles and contents, in order (whatever
    else a message carries, or the order of its keys)."""
    return tuple((m["role"], m["content"]) for m in conversation)


def as_list(values: Iterable[Any], what: str = "inputs") -> list[Any]:
    """A caller's sequence of inputs as a list; a lone string or message is a caller error, not a
    list of characters or keys."""
    if isinstance(values, (str, bytes, dict)):
        raise InvalidInputError(f"expected a list of {what}; wrap a single one in a list")
    return values if isinstance(values, list) else list(values)


def score_inputs(inputs: Iterable[Any]) -> tuple[Literal["texts", "conversations"], list[Any]]:
    """What ``score(inputs)`` was given, as a list: full texts (strings) or conversations (lists of
    messages), never a mix: one list is either rendered by the model's chat template or not at all.
    A lone string or message is refused rather than read as a list of characters or keys."""
    items = as_list(inputs, "texts or conversations")
    strings = sum(isinstance(item, str) for item in items)
    if strings == len(items):
        return "texts", items
    if strings:
        raise InvalidInputError(
            "the inputs mix full texts (strings) and conversations (lists of messages); score each kind in its own call"
        )
    for item in items:
        if not isinstance(item, (list, tuple)):
            raise InvalidInputError(
                f"each input is a full text (a string) or a conversation (a list of messages), not a "
                f"{type(item).__name__}; a single conversation goes in a list: [[{{'role': ..., 'content': ...}}]]"
            )
    return "conversations", items


def with_answer(context: str | Sequence[Message], answer: str) -> Conversation:
    """The conversation that scores ``answer`` as the reply to ``context``: the turns so far (a
    string is one user turn) followed by ``answer`` as the assistant's turn.

    A reward model judges a response where its chat template puts the assistant's last turn, so
    every caller that scores a response to a prompt (pairs, candidates, Best-of-N, /score's
    query-document pairs, training) builds that conversation the same way; this is the one place
    it is built. ``context`` is copied, never changed.
    """
    turns = [{"role": "user", "content": context}] if isinstance(context, str) else list(context)
    return [*turns, {"role": "assistant", "content": answer}]


@dataclass(frozen=True, slots=True)
class TokenizedItem:
    """One sequence ready for the model.

    ``prompt_length`` marks how many leading tokens are the prompt (everything before the scored
    response), when known (conversations). Process reward models count only the step separators
    after it and before ``response_end`` (where the template's closing text starts); shared-prompt
    reuse (Best-of-N, GRPO groups) can build on it too.
    """

    input_ids: tuple[int, ...]
    original_length: int
    truncated: bool = False
    prompt_length: int | None = None
    response_end: int | None = None

    @property
    def length(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """The reward for one item plus what a caller may want to log.

    ``objectives`` holds every named output of a multi-output model (raw, before normalization);
    ``steps`` the per-step scores of a process reward model, in order; ``members`` each ensemble
    member's own reward (before standardization), by member name.
    """

    score: float
    num_tokens: int
    truncated: bool = False
    objectives: dict[str, float] = field(default_factory=dict)
    steps: tuple[float, ...] | None = None
    members: dict[str, float] = field(default_factory=dict)
