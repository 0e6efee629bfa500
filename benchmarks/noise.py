"""How much of the machine other processes used during a measurement, and waiting for a quiet machine.

On a 2-core machine, any other busy process (a test run, an install) shares cores with torch's
intra-op threads; their barriers then wait for descheduled threads and forward passes slow down by
large factors. A figure taken under such load compares nothing, so every measurement records the
share of the machine's CPU time that processes other than the benchmark and the server under test
used, and the benchmark waits for quiet and measures again when that share is too high.
Linux only (``/proc``); elsewhere the share is reported as unknown (None).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["CpuSnapshot", "NoiseGuard", "other_share", "own_shares", "snapshot", "wait_until_quiet"]

_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # user nice system irq softirq steal (of /proc/stat's "cpu" line)


@dataclass(frozen=True)
class CpuSnapshot:
    at: float
    busy_ticks: int
    per_pid: tuple[int, ...]  # CPU ticks of each of ``own_pids``, in order

    @property
    def own_ticks(self) -> int:
        return sum(self.per_pid)


def _machine_busy_ticks() -> int:
    with open("/proc/stat") as handle:
        fields = handle.readline().split()[1:]
    return sum(int(fields[i]) for i in _BUSY_FIELDS)


def _process_ticks(pid: int) -> int:
    """utime + stime of one process, all its threads included (0 once it has exited)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except OSError:
        return 0
    fields = text.rsplit(")", 1)[1].split()  # the command name may contain spaces
    return int(fields[11]) + int(fields[12])


def snapshot(own_pids: Sequence[int]) -> CpuSnapshot | None:
    try:
        busy = _machine_busy_ticks()
    except OSError:
        return None
    return CpuSnapshot(at=time.monotonic(), busy_ticks=busy, per_pid=tuple(_process_ticks(p) for p in own_pids))


def _capacity(start: CpuSnapshot, end: CpuSnapshot) -> float:
    return (end.at - start.at) * os.sysconf("SC_CLK_TCK") * (os.cpu_count() or 1)


def other_share(start: CpuSnapshot | None, end: CpuSnapshot | None) -> float | None:
    """Fraction of all cores' time between the snapshots spent by processes not in ``own_pids``."""
    if start is None or end is None or end.at <= start.at:
        return None
    foreign = (end.busy_ticks - start.busy_ticks) - (end.own_ticks - start.own_ticks)
    return max(0.0, foreign / _capacity(start, end))


def own_shares(start: CpuSnapshot | None, end: CpuSnapshot | None) -> list[float] | None:
    """Fraction of all cores' time each of ``own_pids`` used between the snapshots (where the CPU went)."""
    if start is None or end is None or end.at <= start.at:
        return None
    return [(b - a) / _capacity(start, end) for a, b in zip(start.per_pid, end.per_pid)]


def wait_until_quiet(
    own_pids: Sequence[int], threshold: float, max_wait_s: float, window_s: float = 2.0
) -> float | None:
    """Sample ``window_s`` windows until others use under ``threshold`` of the machine (or time runs out).

    Returns the last window's share (None where /proc is unavailable).
    """
    deadline = time.monotonic() + max_wait_s
    while True:
        start = snapshot(own_pids)
        time.sleep(window_s)
        share = other_share(start, snapshot(own_pids))
        if share is None or share < threshold or time.monotonic() >= deadline:
            return share


@dataclass
class NoiseGuard:
    """Runs a measurement on a quiet machine, again (up to ``retries`` times) if others got busy meanwhile."""

    max_share: float
    retries: int
    quiet_wait_s: float
    log: Callable[[str], None]

    def measure(self, label: str, own_pids: Sequence[int], run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """``run()``'s record plus ``other_cpu_share``, ``own_cpu_shares`` (one per pid) and ``attempts``.

        The least disturbed attempt wins.
        """
        attempts: list[dict[str, Any]] = []
        for _ in range(self.retries + 1):
            before = wait_until_quiet(own_pids, self.max_share, self.quiet_wait_s)
            if before is not None and before >= self.max_share:
                self.log(f"{label}: the machine stayed busy ({before:.0%} used by other processes); measuring anyway")
            start = snapshot(own_pids)
            record = run()
            end = snapshot(own_pids)
            record["other_cpu_share"] = other_share(start, end)
            record["own_cpu_shares"] = own_shares(start, end)
            attempts.append(record)
            share = record["other_cpu_share"]
            if share is None or share <= self.max_share:
                break
            self.log(f"{label}: other processes used {share:.0%} of the machine meanwhile; measuring again")
        best = min(attempts, key=lambda r: r["other_cpu_share"] or 0.0)
        best["attempts"] = len(attempts)
        return best
