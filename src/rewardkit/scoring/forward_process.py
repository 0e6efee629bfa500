"""The model's forward in a process of its own (``--forward-process``, on for `rewardkit serve` on CPU).

In the server's process the event loop (HTTP, JSON, validation) and the tokenizer threads share one
interpreter lock with the thread that drives the forward: whenever they hold it, the forward's next
operator waits and its compute threads idle (a quarter of two cores, measured). A child process that
loads the same model under the same config answers batches over a pipe, with no one else on its
interpreter; the engine's worker thread only waits on the pipe, without the lock. Token ids go in
and BatchOutputs come out, pickled. The child is spawned, not forked: an OpenMP runtime that has
run in the parent hangs in a forked child.

A failure inside a batch comes back as an error of the same kind (the engine retries the batch item
by item); a child that dies is a FatalRunError (the engine stops, the server says so and exits).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from typing import Any

from rewardkit.config import ModelConfig
from rewardkit.engine.runner import BatchOutput, FatalRunError, Runner, is_fatal
from rewardkit.errors import ModelLoadError
from rewardkit.types import TokenizedItem

__all__ = ["ForwardProcess"]


class ForwardProcess:
    """A Runner whose `run` is answered by a child process holding the same model under the same
    config; everything else (objectives, normalization, what the engine reads of the model) is the
    local runner's."""

    def __init__(self, runner: Runner, path: str, config: ModelConfig, threads: int) -> None:
        self.local = runner
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, path, config, threads), name="rewardkit-forward", daemon=True
        )
        self._process.start()
        child.close()
        try:
            kind, message, _ = self._conn.recv()
        except EOFError:
            raise ModelLoadError(
                f"the forward process died while loading the model (exit code {self._process.exitcode})"
            ) from None
        if kind != "ready":
            self.close()
            raise ModelLoadError(f"the forward process could not load the model: {message}")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.local, name)

    @property
    def pid(self) -> int | None:
        """The child's process id."""
        return self._process.pid

    def run(self, items: Sequence[TokenizedItem]) -> BatchOutput:
        try:
            self._conn.send(list(items))
            kind, value, fatal = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise FatalRunError(
                f"the forward process died (exit code {self._process.exitcode}); restart the server"
            ) from exc
        if kind == "ok":
            return value
        raise FatalRunError(value) if fatal else RuntimeError(value)

    def close(self) -> None:
        self._conn.close()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=10)


def _serve(conn: Any, path: str, config: ModelConfig, threads: int) -> None:
    """The child: load, say ready, then answer ("ok", BatchOutput, False) or ("error", message,
    fatal) per batch until the parent closes the pipe."""
    import torch

    torch.set_num_threads(threads)
    try:
        from rewardkit.models import load_model
        from rewardkit.scoring.core import ModelCore

        runner = ModelCore(load_model(path, config), config).runner
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}", True))
        return
    conn.send(("ready", None, False))
    while True:
        try:
            items = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        try:
            conn.send(("ok", runner.run(items), False))
        except BaseException as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}", is_fatal(exc)))
            if not isinstance(exc, Exception):
                return
