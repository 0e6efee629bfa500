"""Unlabeled pairs (for semi-supervised training): {prompt | messages, response_a, response_b}, which
carries no label, or any pair format with its label kept only for diagnosis and not needed (an LLMBar
or AlpacaEval row without one is read, its label unknown)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rewardkit.data.alpaca_eval import DRAW, alpaca_preference
from rewardkit.data.fields import prompt, string
from rewardkit.data.llmbar import p_first
from rewardkit.data.records import PreferencePair, Tally, UnlabeledPair, unlabeled
from rewardkit.errors import InvalidInputError
from rewardkit.templating import validate_context

__all__ = ["ignoring_label", "read_response_ab", "read_two_outputs"]


def read_response_ab(row: dict[str, Any], where: str, default: str, tally: Tally) -> UnlabeledPair | None:
    key = "prompt" if "prompt" in row else "messages" if "messages" in row else None
    if key is None:
        raise InvalidInputError("needs the context as 'prompt' (a string or messages) or 'messages' (a list)")
    context = validate_context(prompt(row[key], key), f"'{key}'")
    return unlabeled(context, string(row, "response_a"), string(row, "response_b"), where, tally)


def _known_p_first(row: dict[str, Any], tally: Tally) -> float | None:
    """P(output_1 better) where an LLMBar or AlpacaEval row has a label; None where it has none. A
    label that is there but means nothing is still an error: the file is not what it seems."""
    if row.get("label") is not None:
        return p_first(row["label"])
    preference, draw_code = alpaca_preference(row.get("preference"))
    if draw_code:
        tally.notes[DRAW] += 1
    return None if preference is None else 2.0 - preference


def read_two_outputs(row: dict[str, Any], where: str, default: str, tally: Tally) -> UnlabeledPair | None:
    """An LLMBar {input, ...} or AlpacaEval {instruction, ...} row, its label not needed."""
    key = next((k for k in ("instruction", "input") if k in row), None)
    if key is None:
        raise InvalidInputError("needs the task as 'input' (LLMBar) or 'instruction' (AlpacaEval)")
    context = prompt(string(row, key, empty=False), key)
    first, second = string(row, "output_1"), string(row, "output_2")
    return unlabeled(context, first, second, where, tally, p_first=_known_p_first(row, tally))


def ignoring_label(
    reader: Callable[[dict[str, Any], str, str, Tally], PreferencePair | None],
) -> Callable[[dict[str, Any], str, str, Tally], UnlabeledPair | None]:
    """A labeled format's reader whose pairs come out as unlabeled pairs (their label kept as p_first)."""

    def read(row: dict[str, Any], where: str, default: str, tally: Tally) -> UnlabeledPair | None:
        pair = reader(row, where, default, tally)
        return None if pair is None else UnlabeledPair(pair.context, pair.first, pair.second, where, pair.p_first)

    return read
