"""Scoring rows: what one ``{"text": str}``, ``{"query": str}`` (OpenRLHF style) or
``{"messages": [{"role", "content"}, ...]}`` row asks to score."""

from __future__ import annotations

from typing import Any

from rewardkit.errors import InvalidInputError
from rewardkit.templating import validate_conversation
from rewardkit.types import Conversation

__all__ = ["row_input"]


def row_input(row: dict[str, Any], where: str) -> str | Conversation:
    """What one row asks to score: a full text (``text`` or ``query``) or a checked conversation."""
    try:
        if "messages" in row:
            return validate_conversation(row["messages"])
        text = row.get("text", row.get("query"))
        if not isinstance(text, str):
            raise InvalidInputError("needs a string 'text' (or 'query') or a 'messages' list")
        return text
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None
