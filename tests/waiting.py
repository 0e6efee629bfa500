"""Tests wait for something to happen by checking for it until a deadline, never by a fixed sleep:
``wait_until`` (threads, processes) and ``wait_until_async`` (an event loop's own work)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["wait_until", "wait_until_async"]

T = TypeVar("T")

POLL_S = 0.01
"""How often the condition is checked: short, so the wait ends right after the condition holds."""


def wait_until(condition: Callable[[], T], what: str, timeout: float = 30.0) -> T:
    """The first true value of ``condition()``; AssertionError naming ``what`` past ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not so within {timeout:g} s")
        time.sleep(POLL_S)
    return value


async def wait_until_async(condition: Callable[[], Awaitable[T]], what: str, timeout: float = 30.0) -> T:
    """``wait_until`` for a condition that is awaited (a request to an in-process app), letting the
    event loop run between checks."""
    deadline = time.monotonic() + timeout
    while not (value := await condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not so within {timeout:g} s")
        await asyncio.sleep(POLL_S)
    return value
