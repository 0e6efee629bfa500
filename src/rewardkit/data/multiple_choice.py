"""Multiple-choice JSON Lines: {question | prompt | messages, correct, incorrect (a list), subset?}."""

from __future__ import annotations

from typing import Any

from rewardkit.data.fields import prompt, string, subset
from rewardkit.errors import InvalidInputError
from rewardkit.types import Conversation

__all__ = ["read_question"]


def read_question(row: dict[str, Any], default: str) -> tuple[Conversation, str, list[str], str]:
    key = next((k for k in ("messages", "prompt", "question") if k in row), None)
    if key is None:
        raise InvalidInputError("needs the question as 'question' or 'prompt' (a string) or 'messages' (a list)")
    context = prompt(row[key], key)
    correct = string(row, "correct", empty=False).strip()
    incorrect = row.get("incorrect")
    if not isinstance(incorrect, list) or not all(isinstance(a, str) for a in incorrect):
        raise InvalidInputError("'incorrect' must be a list of strings")
    return context, correct, [a.strip() for a in incorrect], subset(row, "subset", default)
