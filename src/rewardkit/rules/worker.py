"""A reward-function worker process (started by RulePool as ``python -m rewardkit.rules.worker FD``):
loads the rules it is sent (their specs, and the rule files' text the server pinned at start-up), then
answers (name, payload) calls until the server's end closes."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection

from rewardkit.rules.loading import load_rule

__all__ = ["serve"]


def _end_with(parent: int) -> None:
    """Exit the moment the server is gone, even while a rule hangs and nothing reads the pipe
    (a server killed with SIGKILL, or by the OOM killer, cannot close it for us)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def serve(conn: Connection) -> None:
    """A worker's main loop: load the rules it is sent (from the pinned text, not the files on disk),
    then answer (name, payload) calls until the server's end of the socket closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_end_with, args=(os.getppid(),), name="watchdog", daemon=True).start()
    try:
        specs, config, sources = conn.recv()
        rules = {rule.name: rule for rule in (load_rule(spec, config, sources) for spec in specs)}
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            name, payload = conn.recv()
        except (EOFError, OSError):
            return
        rule = rules[name]
        try:
            value = rule.score_batch(payload) if rule.batched else rule.score_one(payload)
        except BaseException as exc:  # the rule's failure is the answer; the worker goes on
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        else:
            conn.send(("ok", value))


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
