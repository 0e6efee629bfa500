"""Several servers behind one client: requests go round-robin over the endpoints that are up; one
that fails (no connection, 429/502/503/504) is set aside for a cool-down that doubles with each
failure in a row, and must answer GET /health before it gets work again. Pure bookkeeping: the
clients do the sending and the probing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Endpoints", "split_urls"]

COOL_DOWN = 1.0  # seconds a failed endpoint sits out the first time
MAX_COOL_DOWN = 30.0


def split_urls(url: str | Sequence[str]) -> list[str]:
    """``"http://a:8000,http://b:8000"`` or a list -> the URLs, without trailing slashes."""
    urls = url.split(",") if isinstance(url, str) else list(url)
    urls = [u.strip().rstrip("/") for u in urls if u and u.strip()]
    if not urls:
        raise ValueError("no server URL given")
    return urls


@dataclass
class _State:
    failures: int = 0
    down_until: float = 0.0


class Endpoints:
    """Which endpoint to send the next call to, and what failures say about each."""

    def __init__(self, count: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._states = [_State() for _ in range(count)]
        self._next = 0
        self._clock = clock
        self._lock = threading.Lock()  # a client may be shared by threads (OpenRLHF calls from several)

    def __len__(self) -> int:
        return len(self._states)

    def _up(self, i: int) -> bool:
        return self._states[i].down_until <= self._clock()

    def pick(self) -> int:
        """The next endpoint in turn that is not cooling down; when all are, the one back soonest."""
        with self._lock:
            n = len(self._states)
            for step in range(n):
                i = (self._next + step) % n
                if self._up(i):
                    self._next = (i + 1) % n
                    return i
            return min(range(n), key=lambda i: self._states[i].down_until)

    def needs_probe(self, i: int) -> bool:
        """True for an endpoint back from a cool-down: it must pass GET /health first."""
        return self._states[i].failures > 0

    def failed(self, i: int) -> None:
        with self._lock:
            state = self._states[i]
            state.failures += 1
            state.down_until = self._clock() + min(COOL_DOWN * 2 ** (state.failures - 1), MAX_COOL_DOWN)

    def succeeded(self, i: int) -> None:
        with self._lock:
            self._states[i] = _State()

    def another_up(self, i: int) -> bool:
        """Whether a call that failed on ``i`` can go elsewhere at once (failover)."""
        return any(self._up(j) for j in range(len(self._states)) if j != i)
