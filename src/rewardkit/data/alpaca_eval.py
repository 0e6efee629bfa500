"""AlpacaEval annotations: {instruction, output_1, output_2, preference}. Keeps output_1 (the
reference) first with p_first = 2 - preference, a soft label; generator_2 names the model that
wrote output_2.

Real-data quirks handled: a missing preference skips the row (unlabeled reading keeps it, its label
unknown); 0 is AlpacaEval's own code for a draw (0.5).
"""

from __future__ import annotations

import math
from typing import Any

from rewardkit.data.fields import prompt, string, subset
from rewardkit.data.records import PreferencePair, Tally, pair
from rewardkit.errors import InvalidInputError

__all__ = ["DRAW", "alpaca_preference", "read_pair"]

DRAW = "AlpacaEval: preference 0 read as a draw (1.5)"


def alpaca_preference(raw: Any) -> tuple[float | None, bool]:
    """AlpacaEval's ``preference`` in [1, 2] (2: output_2 better) and whether it was AlpacaEval's own
    code for a draw, 0 (alpaca_eval metrics: replace({0: 1.5})), read as 1.5. None when unjudged."""
    try:
        preference = float(raw) if raw not in (None, "") else math.nan
    except (TypeError, ValueError):
        raise InvalidInputError(f"'preference' must be a number in [1, 2], got {raw!r}") from None
    if math.isnan(preference):
        return None, False
    if preference == 0:
        return 1.5, True
    if not 1.0 <= preference <= 2.0:
        raise InvalidInputError(f"'preference' must be in [1, 2] (1: output_1 better, 2: output_2), got {raw!r}")
    return preference, False


def read_pair(row: dict[str, Any], where: str, default: str, tally: Tally) -> PreferencePair | None:
    preference, draw_code = alpaca_preference(row.get("preference"))
    if preference is None:
        tally.skipped["AlpacaEval: no preference"] += 1
        return None
    if draw_code:
        tally.notes[DRAW] += 1
    context = prompt(string(row, "instruction", empty=False), "instruction")
    generator = row.get("generator_2") if isinstance(row.get("generator_2"), str) else None
    first, second = string(row, "output_1"), string(row, "output_2")
    name = subset(row, "subset", subset(row, "dataset", default))
    return pair(context, first, second, 2.0 - preference, name, where, tally, second_generator=generator)
