"""Fields of a dataset row, checked: a string, a message list, a prompt, a subset name. A field that
is not what it must be is an InvalidInputError naming the key (the reader adds ``file:line``)."""

from __future__ import annotations

from typing import Any

from rewardkit.errors import InvalidInputError
from rewardkit.templating import validate_messages
from rewardkit.types import Conversation

__all__ = ["messages", "prompt", "string", "subset"]


def string(row: dict[str, Any], key: str, *, empty: bool = True) -> str:
    value = row.get(key)
    if not isinstance(value, str):
        got = "missing" if key not in row else f"a {type(value).__name__}"
        raise InvalidInputError(f"'{key}' must be a string ({got})")
    if not empty and not value.strip():
        raise InvalidInputError(f"'{key}' is empty")
    return value


def messages(value: Any, key: str) -> Conversation:
    return validate_messages(value, f"'{key}'")


def prompt(value: Any, key: str) -> Conversation:
    """A context: a string is one user turn; a message list is taken as it is."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return messages(value, key)


def subset(row: dict[str, Any], key: str, default: str) -> str:
    value = row.get(key)
    return value if isinstance(value, str) and value.strip() else default
