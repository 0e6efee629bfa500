"""Anthropic hh-rlhf: {chosen, rejected}, each a whole dialogue ('\\n\\nHuman: ...\\n\\nAssistant: ...').
The shared turns become the context, the two last answers the pair, the chosen one first (p_first =
1.0).

Real-data quirks handled (counts on ../shared/data, see tests/unit/test_data_readers.py): a few
dialogues contain "Human:" inline (without the blank line before it), so the two sides parse into
different turns before the last answer. Such a pair does not compare two answers to one context:
skipped and counted (5 of 2312 in harmless-base test). Consecutive turns of the same role in the
shared context are merged (4 rows) so that strict chat templates accept them. Empty responses are
kept (4 rows): an empty reply preferred to a harmful one is a real label.
"""

from __future__ import annotations

import re
from typing import Any

from rewardkit.data.fields import string, subset
from rewardkit.data.records import CONTEXTS_DIFFER, PreferencePair, Tally, pair
from rewardkit.errors import InvalidInputError
from rewardkit.types import Conversation

__all__ = ["dialogue", "read_pair"]

_HH_TURN = re.compile(r"\n\n(Human|Assistant):[ ]?")


def dialogue(text: str, key: str) -> Conversation:
    """'\\n\\nHuman: ...\\n\\nAssistant: ...' -> messages; contents stripped, as TRL's hh-rlhf script does."""
    if text.startswith(("Human:", "Assistant:")):
        text = "\n\n" + text
    parts = _HH_TURN.split(text)
    if parts[0].strip():
        raise InvalidInputError(
            f"'{key}' has text before its first '\\n\\nHuman:' turn; without a 'prompt', 'chosen' and 'rejected' "
            "must be whole hh-rlhf dialogues ('\\n\\nHuman: ...\\n\\nAssistant: ...') or message lists"
        )
    roles, contents = parts[1::2], parts[2::2]
    if not roles or roles[-1] != "Assistant":
        raise InvalidInputError(f"'{key}' must end with an '\\n\\nAssistant:' turn (hh-rlhf dialogue format)")
    return [{"role": "user" if r == "Human" else "assistant", "content": c.strip()} for r, c in zip(roles, contents)]


def _merge_same_roles(context: Conversation) -> Conversation:
    merged: Conversation = []
    for message in context:
        if merged and merged[-1]["role"] == message["role"]:
            merged[-1] = {"role": message["role"], "content": merged[-1]["content"] + "\n\n" + message["content"]}
        else:
            merged.append(dict(message))
    return merged


def read_pair(row: dict[str, Any], where: str, default: str, tally: Tally) -> PreferencePair | None:
    chosen = dialogue(string(row, "chosen"), "chosen")
    rejected = dialogue(string(row, "rejected"), "rejected")
    if chosen[:-1] != rejected[:-1]:
        tally.skipped[f"hh-rlhf: {CONTEXTS_DIFFER}"] += 1
        return None
    if len(chosen) < 2:
        raise InvalidInputError("'chosen' has no 'Human:' turn before its last 'Assistant:' turn")
    context = _merge_same_roles(chosen[:-1])
    first, second = chosen[-1]["content"], rejected[-1]["content"]
    result = pair(context, first, second, 1.0, subset(row, "subset", default), where, tally)
    if result is not None and len(context) != len(chosen) - 1:
        tally.notes["hh-rlhf: consecutive turns of one role merged into one message"] += 1
    if result is not None and not (first and second):
        tally.notes["hh-rlhf: an empty response kept (an empty reply can be the right one)"] += 1
    return result
