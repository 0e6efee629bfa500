"""Run an app under uvicorn with a graceful stop: on SIGTERM (or Ctrl-C) the app's drain begins, so
/health turns 503 at once and new requests are refused, while requests already running finish
within --drain-timeout; those still running then are answered 503, and the process exits.

A fatal engine error (the service is ``broken``) stops it the same way, unless
--no-exit-on-fatal-error: a process that can score nothing more should make way for a fresh one,
and its exit status (FATAL_EXIT_STATUS) tells a supervisor to start one."""

from __future__ import annotations

import logging
from typing import Any

import uvicorn
from fastapi import FastAPI

from rewardkit.config import ServerConfig

__all__ = ["FATAL_EXIT_STATUS", "run_server"]

FATAL_EXIT_STATUS = 3
"""The exit status of a server stopped by a fatal engine error (1 and 2 are Python's and the CLI's)."""

log = logging.getLogger("rewardkit.serving")


class _DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI, exit_on_fatal_error: bool) -> None:
        super().__init__(config)
        self.drain = app.state.drain
        self.service = app.state.service
        self.exit_on_fatal_error = exit_on_fatal_error
        self.fatal: str | None = None

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.drain.begin()
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        """uvicorn's tick (every 0.1 s): once the service is broken, begin the graceful stop."""
        if self.exit_on_fatal_error and self.fatal is None and (reason := self.service.broken) is not None:
            self.fatal = reason
            log.error("fatal engine error (%s): answering what is in flight, then exiting", reason)
            self.drain.begin()
            self.should_exit = True
        return await super().on_tick(counter)


def run_server(app: FastAPI, config: ServerConfig) -> int:
    """Serve ``app`` (made by create_app) on ``config.host:config.port`` until a signal stops it, or
    a fatal engine error does (unless ``config.exit_on_fatal_error`` is off); the exit status:
    0, or FATAL_EXIT_STATUS after a fatal engine error."""
    settings = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level=config.log_level,
        access_log=False,
        timeout_graceful_shutdown=max(1, round(config.drain_timeout)),
    )
    server = _DrainingServer(settings, app, config.exit_on_fatal_error)
    server.run()
    return FATAL_EXIT_STATUS if server.fatal is not None else 0
