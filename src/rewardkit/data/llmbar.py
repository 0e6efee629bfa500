"""LLMBar: {input, output_1, output_2, label}. Keeps output_1 first, p_first = 1.0 or 0.0 by its label
(1: output_1 better, 2: output_2)."""

from __future__ import annotations

from typing import Any

from rewardkit.data.fields import prompt, string, subset
from rewardkit.data.records import PreferencePair, Tally, pair
from rewardkit.errors import InvalidInputError

__all__ = ["p_first", "read_pair"]


def p_first(label: Any) -> float:
    """LLMBar's label (1: output_1 better, 2: output_2) as P(output_1 better)."""
    if label not in (1, 2, "1", "2"):
        raise InvalidInputError(f"'label' must be 1 or 2 (which output is better), got {label!r}")
    return 1.0 if int(label) == 1 else 0.0


def read_pair(row: dict[str, Any], where: str, default: str, tally: Tally) -> PreferencePair | None:
    p = p_first(row.get("label"))
    context = prompt(string(row, "input", empty=False), "input")
    first, second = string(row, "output_1"), string(row, "output_2")
    return pair(context, first, second, p, subset(row, "subset", default), where, tally)
