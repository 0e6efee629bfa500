"""The weighted sum of a reward's parts: the model's reward ('model') and each rule's."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from rewardkit.errors import InvalidInputError

__all__ = ["MODEL_PART", "Composite", "parse_weights"]

MODEL_PART = "model"


def parse_weights(text: str | None, parts: Sequence[str]) -> dict[str, float]:
    """``"model=1,math=0.5"`` -> a weight for every part (1 where unnamed); names outside ``parts``,
    repeats and non-numbers are refused with the list of parts there are."""
    weights = dict.fromkeys(parts, 1.0)
    seen: set[str] = set()
    for entry in filter(None, (e.strip() for e in (text or "").split(","))):
        name, eq, value = (x.strip() for x in entry.partition("="))
        if not eq or name not in weights:
            raise InvalidInputError(
                f"--weights: {entry!r} is not NAME=WEIGHT with NAME one of {', '.join(parts) or '(no parts)'}"
            )
        if name in seen:
            raise InvalidInputError(f"--weights: {name!r} is given twice")
        try:
            weight = float(value)
        except ValueError:
            raise InvalidInputError(f"--weights: {entry!r}: {value!r} is not a number") from None
        if not math.isfinite(weight):
            raise InvalidInputError(f"--weights: {entry!r}: the weight must be finite")
        weights[name] = weight
        seen.add(name)
    return weights


class Composite:
    """``combine`` gives sum(weight * part) per item over every part."""

    def __init__(self, parts: Sequence[str], weights: str | None = None) -> None:
        self.weights = parse_weights(weights, parts)

    @property
    def parts(self) -> list[str]:
        return list(self.weights)

    def combine(self, values: Mapping[str, Sequence[float]]) -> list[float]:
        missing = set(self.weights) - set(values)
        if missing:
            raise ValueError(f"no values for the parts {sorted(missing)}")
        columns = [[w * v for v in values[name]] for name, w in self.weights.items()]
        return [math.fsum(item) for item in zip(*columns)]
