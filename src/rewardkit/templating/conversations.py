"""What a conversation must look like before it is rendered: known roles, string contents, a
user turn, and (to be scored) a final assistant turn. Pure checks; no tokenizer."""

from __future__ import annotations

from typing import Any

from rewardkit.errors import InvalidInputError
from rewardkit.types import Conversation

__all__ = ["FALLBACK_TEMPLATE", "KNOWN_ROLES", "validate_context", "validate_conversation", "validate_messages"]

KNOWN_ROLES = ("system", "user", "assistant")

# Used only when a tokenizer ships no chat template (encoders such as BERT). It renders the
# Anthropic HH-RLHF dialogue format, the layout of the preference data such models are trained on.
FALLBACK_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] }}"
    "{% elif m['role'] == 'user' %}{{ '\\n\\nHuman: ' + m['content'] }}"
    "{% else %}{{ '\\n\\nAssistant: ' + m['content'] }}{% endif %}"
    "{% endfor %}"
)


def validate_messages(conversation: Any, where: str = "messages") -> Conversation:
    """Each message is {'role': a known role, 'content': a string}; returns clean copies."""
    if not isinstance(conversation, list) or not conversation:
        raise InvalidInputError(f"{where}: expected a non-empty list of {{'role', 'content'}} objects")
    for i, message in enumerate(conversation):
        if not isinstance(message, dict):
            raise InvalidInputError(f"{where}[{i}]: expected an object with 'role' and 'content'")
        role, content = message.get("role"), message.get("content")
        if role not in KNOWN_ROLES:
            raise InvalidInputError(f"{where}[{i}].role: unknown role {role!r}; use one of {', '.join(KNOWN_ROLES)}")
        if not isinstance(content, str):
            raise InvalidInputError(f"{where}[{i}].content: expected a string, got {type(content).__name__}")
    return [{"role": m["role"], "content": m["content"]} for m in conversation]


def validate_conversation(conversation: Any, where: str = "messages") -> Conversation:
    """Check roles and fields; raise InvalidInputError that says how to fix the input."""
    messages = validate_messages(conversation, where)
    roles = [m["role"] for m in messages]
    if "user" not in roles or "assistant" not in roles:
        raise InvalidInputError(f"{where}: needs at least one 'user' and one 'assistant' message")
    if roles[-1] != "assistant":
        raise InvalidInputError(
            f"{where}: the last message must be the 'assistant' response to score (got {roles[-1]!r})"
        )
    return messages


def validate_context(conversation: Any, where: str = "messages") -> Conversation:
    """Check a conversation so far, which candidate responses will answer: it needs a user turn and
    must not end with the assistant."""
    messages = validate_messages(conversation, where)
    roles = [m["role"] for m in messages]
    if "user" not in roles:
        raise InvalidInputError(f"{where}: needs at least one 'user' message")
    if roles[-1] == "assistant":
        raise InvalidInputError(f"{where}: the conversation so far must not end with an 'assistant' message")
    return messages
