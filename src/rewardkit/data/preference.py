"""Generic preference pairs (TRL / RewardBench layouts): {prompt, chosen, rejected}, the prompt a
string or messages (or none), chosen/rejected strings or message lists, which may repeat the prompt
(TRL's implicit-prompt conversational layout); an optional ``margin``. The chosen response comes
first (p_first = 1.0)."""

from __future__ import annotations

import math
from typing import Any

from rewardkit.data.fields import messages, prompt, subset
from rewardkit.data.records import CONTEXTS_DIFFER, PreferencePair, Tally, pair
from rewardkit.errors import InvalidInputError
from rewardkit.types import Conversation

__all__ = ["read_pair"]


def _split_response(value: Any, key: str) -> tuple[Conversation | None, str]:
    """(the turns before the response or None, the response) of a string or a message list."""
    if isinstance(value, str):
        return None, value
    turns = messages(value, key)
    if turns[-1]["role"] != "assistant":
        raise InvalidInputError(f"'{key}' must end with an 'assistant' message (the response)")
    return turns[:-1], turns[-1]["content"]


def read_pair(row: dict[str, Any], where: str, default: str, tally: Tally) -> PreferencePair | None:
    """TRL / RewardBench layouts: prompt string or messages (or none), chosen/rejected strings or
    message lists, which may repeat the prompt (TRL's implicit-prompt conversational layout)."""
    before_chosen, chosen = _split_response(row.get("chosen"), "chosen")
    before_rejected, rejected = _split_response(row.get("rejected"), "rejected")
    if row.get("prompt") is not None:
        context = prompt(row["prompt"], "prompt")
        sides = [b for b in (before_chosen, before_rejected) if b]  # [] or None: the response alone
        if any(b != context for b in sides):
            tally.skipped[f"prompt/chosen/rejected: {CONTEXTS_DIFFER}"] += 1
            return None
    else:
        if before_chosen is None or before_rejected is None:
            raise InvalidInputError(
                "no 'prompt': 'chosen' and 'rejected' must then be whole conversations (message lists, or "
                "hh-rlhf '\\n\\nHuman: ... \\n\\nAssistant: ...' strings)"
            )
        if before_chosen != before_rejected:
            tally.skipped[f"prompt/chosen/rejected: {CONTEXTS_DIFFER}"] += 1
            return None
        context = before_chosen
    if not any(m["role"] == "user" for m in context):
        raise InvalidInputError("the prompt needs at least one 'user' message")
    margin = row.get("margin", 0.0)
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not math.isfinite(margin):
        raise InvalidInputError(f"'margin' must be a finite number, got {margin!r}")
    return pair(context, chosen, rejected, 1.0, subset(row, "subset", default), where, tally, margin=float(margin))
