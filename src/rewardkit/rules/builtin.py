"""The built-in rules: math final-answer verification, a format regex and DAPO's overlong penalty.

Each is a per-sample function of (response, label) made from RewardsConfig, so a worker process
builds the same function the server validated."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rewardkit.config import RewardsConfig
from rewardkit.errors import InvalidInputError

__all__ = ["BUILTIN", "final_answer_label", "length_penalty", "math_reward"]

GSM8K_MARK = "####"
ANSWER_TAG = re.compile(r"(?s)<answer>(.*?)</answer>")


def final_answer_label(label: Any) -> str:
    """The gold answer from a label: a number, a bare answer, ``\\boxed{..}``, or a whole GSM8K
    solution (the text after its last ``####``)."""
    if label is None:
        raise ValueError("the 'math' rule needs a label (the gold answer) for every query; send 'labels'")
    if isinstance(label, bool) or not isinstance(label, (str, int, float)):
        raise ValueError(f"the 'math' rule needs a string or number label, got {type(label).__name__}")
    text = str(label)
    if GSM8K_MARK in text:
        text = text.rsplit(GSM8K_MARK, 1)[1]
    return text.strip()


def math_reward(response: str, label: Any, seconds: int = 5) -> float:
    """1.0 when the response's final answer (inside its last <answer> tag if it has one: a boxed
    answer, "the answer is ...", "#### ...", else its last number or expression) equals the gold
    answer mathematically (math-verify: 0.5 == 1/2, 1,000 == 1000), else 0.0. ``seconds`` bounds each
    parse and comparison (an expression past it counts as wrong); math-verify's alarms need the
    main thread, which a rule worker's calls run on."""
    from math_verify import parse, verify

    tagged = ANSWER_TAG.findall(response)
    if tagged:
        response = tagged[-1]
    gold = parse(final_answer_label(label), parsing_timeout=seconds)
    if not gold:
        raise ValueError(f"the label {str(label)[:80]!r} holds no answer math-verify can read")
    answer = parse(response, parsing_timeout=seconds)
    return float(bool(answer) and verify(gold, answer, timeout_seconds=seconds))


def length_penalty(length: int, budget: int, buffer: int, factor: float) -> float:
    """DAPO's soft overlong punishment: 0 up to budget - buffer, then falling linearly to -factor at
    the budget, -factor past it."""
    expected = budget - buffer
    if length <= expected:
        return 0.0
    return -min(length - expected, buffer) / buffer * factor


def _math(config: RewardsConfig) -> Callable[..., float]:
    import math_verify  # noqa: F401 - fail at start-up, not at the first request, when it is missing

    # up to two parses and four comparisons must fit in one --reward-fn-timeout
    seconds = max(1, int(config.reward_fn_timeout / 8))

    def math(response: str, label: Any) -> float:
        return math_reward(response, label, seconds)

    return math


def _format(config: RewardsConfig) -> Callable[..., float]:
    try:
        pattern = re.compile(config.format_pattern)
    except re.error as exc:
        raise InvalidInputError(f"--format-pattern {config.format_pattern!r} is not a Python regex: {exc}") from None

    def format(response: str) -> float:
        return float(pattern.fullmatch(response) is not None)

    return format


def _length(config: RewardsConfig) -> Callable[..., float]:
    budget, buffer, factor = config.max_response_chars, config.overlong_buffer_chars, config.overlong_penalty_factor
    if buffer > budget:
        raise InvalidInputError(f"--overlong-buffer-chars ({buffer}) is larger than --max-response-chars ({budget})")

    def length(response: str) -> float:
        return length_penalty(len(response), budget, buffer, factor)

    return length


BUILTIN: dict[str, Callable[[RewardsConfig], Callable[..., float]]] = {
    "math": _math,
    "format": _format,
    "length": _length,
}
"""Built-in rule name -> a factory of its per-sample function."""
