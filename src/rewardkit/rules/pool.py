"""RulePool: reward functions run in worker processes, each call under a timeout.

Processes, not threads: a rule is user code (or a checker like math-verify, whose own timeouts need
a main thread), and one that hangs or crashes must cost only its own item. A call past the timeout
gets its worker killed and replaced; the request holding that item gets a RuleFailedError (HTTP 500)
naming the rule and the item at once, and every other request goes on. Workers ignore Ctrl-C (the
server drains), exit when the server's end of their pipe closes, and a watchdog thread in each
ends it when the server is gone (even one killed while a rule hangs), so none outlives the server.

Every worker, a replacement included, runs the rule code the server read at start-up (its sha256 is
in /info), whatever the files on disk say by then. A replacement that cannot start is retried in the
background with a growing pause; while no worker at all can run, requests fail at once with
RulesUnavailableError (HTTP 503 + Retry-After) and the pool reports itself unhealthy (/health 503),
until a replacement starts.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

from rewardkit.config import RewardsConfig
from rewardkit.errors import (
    InvalidInputError,
    QueueFullError,
    RuleFailedError,
    RulesUnavailableError,
    TooManyItemsError,
)
from rewardkit.rules.loading import Rule, RuleOutput, load_rule, pinned_sources, rule_names
from rewardkit.rules.sample import Sample

__all__ = ["RulePool"]

log = logging.getLogger("rewardkit.rules")

START_TIMEOUT = 120.0  # seconds a worker may take to import its rules
FIRST_PAUSE, LONGEST_PAUSE = 0.5, 30.0  # seconds between tries to start a replacement, doubling


class _WorkerGone(Exception):
    """The worker ran past the timeout or died; it has been killed."""


class _Worker:
    """A fresh interpreter (never a fork of a server holding threads and a model, and never a
    re-import of the caller's main module) talking pickled messages over a socket pair."""

    def __init__(self, specs: Sequence[str], config: RewardsConfig, sources: dict[str, str]) -> None:
        ours, theirs = socket.socketpair()
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rewardkit.rules.worker", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
        self.conn = Connection(ours.detach())
        self._killed = threading.Lock()
        self.conn.send((list(specs), config, sources))

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self) -> None:
        if not self.conn.poll(START_TIMEOUT):
            self.kill()
            raise RuleFailedError(f"a reward-function worker did not start within {START_TIMEOUT:.0f} s")
        try:
            kind, value = self.conn.recv()
        except (EOFError, OSError):
            self.kill()
            raise RuleFailedError("a reward-function worker died while loading the rules") from None
        if kind != "ready":
            self.kill()
            raise InvalidInputError(f"--reward-fn: a worker could not load the rules: {value}")

    def call(self, name: str, payload: Any, timeout: float) -> tuple[str, Any]:
        try:
            self.conn.send((name, payload))
            if self.conn.poll(timeout):
                return self.conn.recv()
        except (EOFError, OSError):
            self.kill()
            raise _WorkerGone("its worker process died") from None
        self.kill()
        raise _WorkerGone(f"it ran past --reward-fn-timeout ({timeout:g} s)")

    def kill(self) -> None:
        """Idempotent, and safe from two threads at once (a timed-out call and close())."""
        if not self._killed.acquire(blocking=False):
            return
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(5)
        self.conn.close()


class RulePool:
    """The rules of ``specs``, loaded here first (so a bad spec fails at start-up; their file text is
    pinned then) and run by ``config.reward_fn_workers`` processes. ``score`` is called from the event
    loop. A request needing more calls than ``max_pending`` is refused (TooManyItemsError: HTTP 413);
    past that many waiting calls, requests get QueueFullError (HTTP 503, retry)."""

    def __init__(self, specs: Sequence[str], config: RewardsConfig | None = None, *, max_pending: int = 4096) -> None:
        self.config = config or RewardsConfig()
        self.rules: list[Rule] = [load_rule(spec, self.config) for spec in specs]
        self.names = rule_names(self.rules)
        self.specs = list(specs)
        self.sources = pinned_sources(self.rules)
        self.max_pending = max_pending
        self._changed = threading.Condition()  # guards everything below; notified when any of it changes
        self._idle: deque[_Worker] = deque()
        self._workers: set[_Worker] = set()  # every process started and not yet killed
        self._serving = 0  # workers that loaded the rules and have not been discarded
        self._failure: str | None = None  # why the latest replacement could not start; None once one did
        self._pause = FIRST_PAUSE  # before the next try to start a replacement
        self._pending = 0
        self._closed = False
        self._closing = threading.Event()
        self._threads: ThreadPoolExecutor | None = None

    def describe(self) -> list[dict[str, Any]]:
        return [rule.describe() for rule in self.rules]

    @property
    def unavailable(self) -> str | None:
        """Why no worker can run a rule now (every worker is gone and starting a replacement failed),
        or None while one can, or may soon."""
        with self._changed:
            if self._threads is None or self._serving or self._failure is None:
                return None
            return f"no reward-function worker can run: {self._failure}"

    def labels_needed(self, labels: Sequence[Any] | None, count: int) -> None:
        """Refuse a request whose labels a rule cannot do without (InvalidInputError: HTTP 422), before
        any work: the built-in 'math' needs a string or number per query."""
        for rule in self.rules:
            if not rule.needs_label:
                continue
            if labels is None:
                raise InvalidInputError(
                    f"reward function {rule.name!r} checks answers against 'labels': send one gold answer per query"
                )
            for i, label in enumerate(labels[:count]):
                if label is None or isinstance(label, bool) or not isinstance(label, (str, int, float)):
                    raise InvalidInputError(
                        f"labels.{i}: reward function {rule.name!r} needs a string or number (the gold answer), "
                        f"got {type(label).__name__}"
                    )

    def start(self) -> None:
        """Start the workers (in parallel) and wait until each has loaded the rules."""
        if self._threads is not None:
            return
        self._closed = False
        self._closing.clear()
        started: list[_Worker] = []
        try:
            for _ in range(self.config.reward_fn_workers):
                worker = _Worker(self.specs, self.config, self.sources)
                started.append(worker)
                with self._changed:
                    self._workers.add(worker)
            for worker in started:
                worker.wait_ready()
        except BaseException:
            self.close()
            raise
        with self._changed:
            self._idle.extend(started)
            self._serving, self._failure, self._pause = len(started), None, FIRST_PAUSE
            self._threads = ThreadPoolExecutor(len(started), thread_name_prefix="rewardkit-rules")

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._closing.set()
            threads, self._threads = self._threads, None
            workers, self._workers = list(self._workers), set()
            self._idle.clear()
            self._serving = 0
            self._changed.notify_all()
        if threads is not None:
            threads.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            worker.kill()

    def _discard(self, worker: _Worker) -> None:
        """Kill ``worker`` (it failed, or died) and start a replacement in the background."""
        worker.kill()
        with self._changed:
            if worker not in self._workers:  # already discarded, or the pool was closed
                return
            self._workers.discard(worker)
            self._serving -= 1
        threading.Thread(target=self._replace, name="rewardkit-rules-replace", daemon=True).start()

    def _replace(self) -> None:
        """Start one worker, trying again with a doubling pause until one starts or the pool closes.
        Each failure is recorded (``unavailable`` reads it) and wakes the requests waiting for a worker."""
        while not self._closed:
            fresh: _Worker | None = None
            try:
                fresh = _Worker(self.specs, self.config, self.sources)
                with self._changed:
                    self._workers.add(fresh)
                fresh.wait_ready()
            except Exception as exc:
                if fresh is not None:
                    fresh.kill()
                with self._changed:
                    self._workers.discard(fresh)
                    self._failure = f"starting a replacement worker failed ({exc}); retrying every {self._pause:g} s"
                    pause, self._pause = self._pause, min(self._pause * 2, LONGEST_PAUSE)
                    self._changed.notify_all()
                log.warning("a reward-function worker could not be replaced (%s); trying again in %g s", exc, pause)
                self._closing.wait(pause)
                continue
            with self._changed:
                if not self._closed:
                    self._idle.append(fresh)
                    self._serving += 1
                    self._failure, self._pause = None, FIRST_PAUSE
                    self._changed.notify_all()
                    return
            fresh.kill()
            return

    def _refuse_if_unavailable(self) -> None:
        """Raise at once when the pool is closed or no worker can run (call with ``_changed`` held)."""
        if self._closed:
            raise RuleFailedError("the reward-function pool has been closed (the server is stopping)")
        if not self._serving and self._failure is not None:
            raise RulesUnavailableError(
                f"no reward-function worker can run: {self._failure}. The server keeps trying; retry in "
                f"{self._pause:g} s, and see its log for why the workers fail",
                retry_after=self._pause,
            )

    def _idle_worker(self) -> _Worker:
        """A live idle worker, waiting for one while any may come; one found dead (it died while idle)
        is replaced and skipped."""
        while True:
            with self._changed:
                while not self._idle:
                    self._refuse_if_unavailable()
                    self._changed.wait()
                worker = self._idle.popleft()
            if worker.alive:
                return worker
            self._discard(worker)

    def _release(self, worker: _Worker) -> None:
        with self._changed:
            if worker in self._workers:
                self._idle.append(worker)
                self._changed.notify()

    def _call(self, rule: Rule, payload: Any, where: str) -> Any:
        worker = self._idle_worker()
        try:
            kind, value = worker.call(rule.name, payload, self.config.reward_fn_timeout)
        except _WorkerGone as gone:
            self._discard(worker)
            raise RuleFailedError(
                f"reward function {rule.name!r} failed on {where}: {gone}; the worker was replaced"
            ) from None
        self._release(worker)
        if kind != "ok":
            raise RuleFailedError(f"reward function {rule.name!r} failed on {where}: {value}")
        return value

    async def score(self, samples: Sequence[Sample]) -> dict[str, RuleOutput]:
        """Every rule's output for ``samples``: batch-form rules in one call, per-sample rules one call
        per item, all at once over the workers. The first failure cancels what has not started."""
        threads = self._threads
        if threads is None:
            raise RuleFailedError("the reward-function pool is not running")
        with self._changed:
            self._refuse_if_unavailable()
        calls = sum(1 if rule.batched else len(samples) for rule in self.rules)
        if calls > self.max_pending:
            raise TooManyItemsError(
                f"{len(samples)} items need {calls} reward-function calls, more than the pool ever queues "
                f"({self.max_pending}, --max-queue); split the request"
            )
        with self._changed:
            if self._pending + calls > self.max_pending:
                raise QueueFullError(
                    f"{self._pending} reward-function calls are waiting (most {self.max_pending}); retry shortly",
                    retry_after=1.0,
                )
            self._pending += calls
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = []
        try:
            for rule in self.rules:
                if rule.batched:
                    futures.append(loop.run_in_executor(threads, self._call, rule, list(samples), "the request"))
                else:
                    futures.extend(
                        loop.run_in_executor(threads, self._call, rule, sample, f"item {i}")
                        for i, sample in enumerate(samples)
                    )
            values = await asyncio.gather(*futures)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        finally:
            with self._changed:
                self._pending -= calls
        return self._outputs(values, len(samples))

    def _outputs(self, values: list[Any], n: int) -> dict[str, RuleOutput]:
        outputs, at = {}, 0
        for rule in self.rules:
            if rule.batched:
                outputs[rule.name], at = values[at], at + 1
            else:
                outputs[rule.name], at = RuleOutput(list(values[at : at + n]), {}), at + n
        return outputs
