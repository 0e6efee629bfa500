"""Messages -> text -> token ids, with the truncation policy (templater.py); what a conversation
must look like (conversations.py); reading only the ends of very long texts (cutting.py); a model
family's own input rule (rendering.py)."""

from rewardkit.templating.conversations import (
    FALLBACK_TEMPLATE,
    KNOWN_ROLES,
    validate_context,
    validate_conversation,
    validate_messages,
)
from rewardkit.templating.rendering import Rendering
from rewardkit.templating.templater import Templater

__all__ = [
    "FALLBACK_TEMPLATE",
    "KNOWN_ROLES",
    "Rendering",
    "Templater",
    "validate_context",
    "validate_conversation",
    "validate_messages",
]
