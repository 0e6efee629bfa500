"""TruthfulQA's CSV: Question, Best Answer (the correct one), Incorrect Answers (';'-separated) and
Category (the subset).

Real-data quirks handled: trailing "; " leaves empty answers (dropped), one question lists an
incorrect answer twice (deduplicated); an incorrect answer equal to the correct one would be dropped
too. The dropping is the multiple-choice reader's (readers.py), for every format.
"""

from __future__ import annotations

from typing import Any

from rewardkit.data.fields import prompt, string, subset
from rewardkit.types import Conversation

__all__ = ["read_question"]


def _answers(text: str) -> list[str]:
    """TruthfulQA's answer lists: separated by ';' (mostly '; '), a trailing ';' leaves an empty one."""
    return [a.strip() for a in text.split(";")]


def read_question(row: dict[str, Any], default: str) -> tuple[Conversation, str, list[str], str]:
    context = prompt(string(row, "Question", empty=False), "Question")
    correct = string(row, "Best Answer", empty=False).strip()
    return context, correct, _answers(string(row, "Incorrect Answers")), subset(row, "Category", default)
