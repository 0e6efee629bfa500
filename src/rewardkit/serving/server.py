"""Run an app under uvicorn with a graceful stop: on SIGTERM (or Ctrl-C) the app's drain begins, so
/health turns 503 at once and new requests are refused, while requests already running finish
within --drain-timeout; those still running then are answered 503, and the process exits."""

from __future__ import annotations

from typing import Any

import uvicorn
from fastapi import FastAPI

from rewardkit.config import ServerConfig

__all__ = ["run_server"]


class _DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, drain: Any) -> None:
        super().__init__(config)
        self.drain = drain

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.drain.begin()
        super().handle_exit(sig, frame)


def run_server(app: FastAPI, config: ServerConfig) -> None:
    """Serve ``app`` (made by create_app) on ``config.host:config.port`` until a signal stops it."""
    settings = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level=config.log_level,
        access_log=False,
        timeout_graceful_shutdown=max(1, round(config.drain_timeout)),
    )
    _DrainingServer(settings, app.state.drain).run()
