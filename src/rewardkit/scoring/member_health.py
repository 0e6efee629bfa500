"""MemberHealth: whether another server is up, from its own GET /health, asked in the background.

While the server answers 200 it is asked every ``interval`` seconds; once a probe fails (no answer
within ``timeout``, or any status but 200) it is down, and asked again after a pause that doubles
from ``first_retry`` to ``longest_retry`` seconds until a probe gets 200: then it is up again, with
no scoring traffic needed. Scoring answers never decide health (a member busy with others' work
answers 503 to a scoring call and is still up); a call that could not reach the server only asks
for the next probe at once. Knows one URL and asyncio; nothing about scoring.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx

__all__ = ["MemberHealth"]


class MemberHealth:
    def __init__(
        self,
        url: str,
        *,
        interval: float = 2.0,
        timeout: float = 5.0,
        first_retry: float = 0.5,
        longest_retry: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/") + "/health"
        self.interval, self.first_retry, self.longest_retry = interval, first_retry, longest_retry
        self.failure: str | None = "not probed yet"
        """Why the last probe failed, or None while the server is up."""
        self._http = httpx.AsyncClient(timeout=timeout)
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None

    async def probe(self) -> str | None:
        """Ask once, now; the failure (also kept in ``failure``), or None when the server answered 200."""
        try:
            answer = await self._http.get(self.url)
        except Exception as exc:  # unreachable, timed out, refused: any failure to answer is "down"
            self.failure = f"GET {self.url} failed: {type(exc).__name__}: {exc}".rstrip(": ")
            return self.failure
        if answer.status_code == 200:
            self.failure = None
            return None
        try:
            reason = answer.json().get("reason") or answer.json().get("status")
        except (ValueError, AttributeError):
            reason = answer.text[:200]
        self.failure = f"GET {self.url} answered {answer.status_code}" + (f": {reason}" if reason else "")
        return self.failure

    def start(self) -> None:
        """Probe in the background from now on (call from the event loop that serves)."""
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._watch(), name=f"health of {self.url}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._http.aclose()

    def probe_soon(self) -> None:
        """A call could not reach the server: probe now rather than at the next interval (a server
        already down keeps its backoff)."""
        if self._wake is not None and self.failure is None:
            self._wake.set()

    async def _watch(self) -> None:
        assert self._wake is not None
        pause = self.first_retry
        while True:
            down = self.failure is not None
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause if down else self.interval)
            self._wake.clear()
            if await self.probe() is None:
                pause = self.first_retry
            elif down:
                pause = min(pause * 2, self.longest_retry)
