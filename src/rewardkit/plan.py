"""Plans: work written once as a generator, run by a synchronous or an asynchronous driver.

A plan yields a *step* (a round of comparisons, a batch of texts to score), is sent the step's
answer, and finally returns its result. What a step means, and how it is answered (a direct call
in this process, an awaited engine, a remote server), belongs to whoever drives the plan; the plan
knows neither. So a behaviour such as "rank by a knockout tournament" or "pick the best of N" is
written once and serves the Python API and the server alike.

Pure Python: no torch, no asyncio beyond ``await``, no I/O.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

__all__ = ["Plan", "drive", "drive_async", "translate"]

T = TypeVar("T")
Plan = Generator[Any, Any, T]
"""Yields steps, is sent each step's answer, returns the result."""


def _advance(plan: Plan[T], answer: Any) -> tuple[bool, Any]:
    """Send ``answer`` (None to start); (True, result) when the plan has finished, else (False, next step)."""
    try:
        return False, plan.send(answer)
    except StopIteration as done:
        return True, done.value


def drive(plan: Plan[T], answer: Callable[[Any], Any]) -> T:
    """Run ``plan`` to its result, answering each step with a direct call."""
    finished, value = _advance(plan, None)
    while not finished:
        finished, value = _advance(plan, answer(value))
    return value


async def drive_async(plan: Plan[T], answer: Callable[[Any], Awaitable[Any]]) -> T:
    """Run ``plan`` to its result, answering each step with an awaited call."""
    finished, value = _advance(plan, None)
    while not finished:
        finished, value = _advance(plan, await answer(value))
    return value


def translate(plan: Plan[T], step: Callable[[Any], Any], answer: Callable[[Any, Any], Any]) -> Plan[T]:
    """``plan`` speaking another plan's language: each inner step becomes ``step(inner)``, and the
    outer answer is turned back by ``answer(inner, outer_answer)`` (a tournament's round of index
    pairs becomes a batch of comparisons, and the comparisons' probabilities go back to it)."""
    finished, value = _advance(plan, None)
    while not finished:
        outer = yield step(value)
        finished, value = _advance(plan, answer(value, outer))
    return value
