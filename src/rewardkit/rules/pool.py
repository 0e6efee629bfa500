"""RulePool: reward functions run in worker processes, each call under a timeout.

Processes, not threads: a rule is user code (or a checker like math-verify, whose own timeouts need
a main thread), and one that hangs or crashes must cost only its own item. A call past the timeout
gets its worker killed and replaced; the request holding that item gets a RuleFailedError (HTTP 500)
naming the rule and the item at once, and every other request goes on. Workers ignore Ctrl-C (the
server drains), exit when the server's end of their pipe closes, and a watchdog thread in each
ends it when the server is gone (even one killed while a rule hangs), so none outlives the server.
A replacement worker imports the rule files as they are then.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

from rewardkit.config import RewardsConfig
from rewardkit.errors import InvalidInputError, QueueFullError, RuleFailedError, TooManyItemsError
from rewardkit.rules.loading import Rule, RuleOutput, load_rule, rule_names
from rewardkit.rules.sample import Sample

__all__ = ["RulePool"]

log = logging.getLogger("rewardkit.rules")

START_TIMEOUT = 120.0  # seconds a worker may take to import its rules


class _WorkerGone(Exception):
    """The worker ran past the timeout or died; it has been killed."""


class _Worker:
    """A fresh interpreter (never a fork of a server holding threads and a model, and never a
    re-import of the caller's main module) talking pickled messages over a socket pair."""

    def __init__(self, specs: Sequence[str], config: RewardsConfig) -> None:
        ours, theirs = socket.socketpair()
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rewardkit.rules.worker", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
        self.conn = Connection(ours.detach())
        self._killed = threading.Lock()
        self.conn.send((list(specs), config))

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
    """The rules of ``specs``, loaded here first (so a bad spec fails at start-up) and run by
    ``config.reward_fn_workers`` processes. ``score`` is called from the event loop. A request
    needing more calls than ``max_pending`` is refused (TooManyItemsError: HTTP 413); past that
    many waiting calls, requests get QueueFullError (HTTP 503, retry)."""

    def __init__(self, specs: Sequence[str], config: RewardsConfig | None = None, *, max_pending: int = 4096) -> None:
        self.config = config or RewardsConfig()
        self.rules: list[Rule] = [load_rule(spec, self.config) for spec in specs]
        self.names = rule_names(self.rules)
        self.specs = list(specs)
        self.max_pending = max_pending
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._workers: set[_Worker] = set()
        self._lock = threading.Lock()
        self._pending = 0
        self._closed = False
        self._threads: ThreadPoolExecutor | None = None

    def describe(self) -> list[dict[str, Any]]:
        return [rule.describe() for rule in self.rules]

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
        started: list[_Worker] = []
        try:
            for _ in range(self.config.reward_fn_workers):
                worker = _Worker(self.specs, self.config)
                started.append(worker)
                with self._lock:
                    self._workers.add(worker)
            for worker in started:
                worker.wait_ready()
        except BaseException:
            self.close()
            raise
        for worker in started:
            self._idle.put(worker)
        self._threads = ThreadPoolExecutor(len(started), thread_name_prefix="rewardkit-rules")

    def close(self) -> None:
        self._closed = True
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
            self._threads = None
        with self._lock:
            workers, self._workers = list(self._workers), set()
        for worker in workers:
            worker.kill()

    def _replace_later(self, worker: _Worker) -> None:
        """A fresh worker in place of ``worker``, started in the background (the failed call's error
        is not held up by it); tried again with a growing pause until one starts or the pool closes."""
        with self._lock:
            self._workers.discard(worker)

        def replace() -> None:
            pause = 0.5
            while not self._closed:
                try:
                    fresh = _Worker(self.specs, self.config)
                    with self._lock:
                        self._workers.add(fresh)
                    fresh.wait_ready()
                except Exception as exc:
                    log.warning("a reward-function worker could not be replaced (%s); trying again", exc)
                    time.sleep(pause)
                    pause = min(pause * 2, 30.0)
                    continue
                if self._closed:
                    fresh.kill()
                else:
                    self._idle.put(fresh)
                return

        threading.Thread(target=replace, name="rewardkit-rules-replace", daemon=True).start()

    def _idle_worker(self) -> _Worker:
        """A live idle worker; one found dead (it died while idle) is replaced and skipped."""
        while True:
            try:
                worker = self._idle.get(timeout=0.5)
            except queue.Empty:
                if self._closed:
                    raise RuleFailedError("the reward-function pool has been closed (the server is stopping)") from None
                continue
            if worker.alive:
                return worker
            worker.kill()
            self._replace_later(worker)

    def _call(self, rule: Rule, payload: Any, where: str) -> Any:
        worker = self._idle_worker()
        try:
            kind, value = worker.call(rule.name, payload, self.config.reward_fn_timeout)
        except _WorkerGone as gone:
            self._replace_later(worker)
            raise RuleFailedError(
                f"reward function {rule.name!r} failed on {where}: {gone}; the worker was replaced"
            ) from None
        self._idle.put(worker)
        if kind != "ok":
            raise RuleFailedError(f"reward function {rule.name!r} failed on {where}: {value}")
        return value

    async def score(self, samples: Sequence[Sample]) -> dict[str, RuleOutput]:
        """Every rule's output for ``samples``: batch-form rules in one call, per-sample rules one call
        per item, all at once over the workers. The first failure cancels what has not started."""
        if self._threads is None:
            raise RuleFailedError("the reward-function pool is not running")
        calls = sum(1 if rule.batched else len(samples) for rule in self.rules)
        if calls > self.max_pending:
            raise TooManyItemsError(
                f"{len(samples)} items need {calls} reward-function calls, more than the pool ever queues "
                f"({self.max_pending}, --max-queue); split the request"
            )
        with self._lock:
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
                    futures.append(loop.run_in_executor(self._threads, self._call, rule, list(samples), "the request"))
                else:
                    futures.extend(
                        loop.run_in_executor(self._threads, self._call, rule, sample, f"item {i}")
                        for i, sample in enumerate(samples)
                    )
            values = await asyncio.gather(*futures)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        finally:
            with self._lock:
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
