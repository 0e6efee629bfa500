"""Pure-ASGI middleware: bearer-token auth, request-size limit, per-route metrics (labelled by the
app's own route paths; any other path counts as "unmatched", so clients cannot grow /metrics)."""

from __future__ import annotations

import hmac
import json
import time
from typing import Any

from rewardkit.serving.metrics import ServerMetrics

__all__ = ["GuardMiddleware"]

OPEN_PATHS = frozenset({"/health"})
UNMATCHED = "unmatched"


class GuardMiddleware:
    def __init__(
        self,
        app: Any,
        *,
        metrics: ServerMetrics,
        api_key: str | None,
        max_request_bytes: int,
        routes: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.api_key = api_key.encode("utf-8") if api_key else None
        self.max_request_bytes = max_request_bytes
        self.routes = routes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        started = time.perf_counter()
        status_holder = [500]

        async def send_and_record(message: dict) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
            await send(message)

        try:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            if self.api_key and path not in OPEN_PATHS and not self._authorized(headers):
                await _reply(
                    send_and_record,
                    401,
                    "Unauthorized",
                    "missing or wrong API key: send 'Authorization: Bearer <key>'",
                    [(b"www-authenticate", b"Bearer")],
                )
                return
            length = headers.get("content-length")
            declared_over = length is not None and length.isdigit() and int(length) > self.max_request_bytes
            body = None if declared_over else await self._read_body(receive)  # refuse early when it says so
            if body is None:
                await _reply(
                    send_and_record,
                    413,
                    "RequestTooLarge",
                    f"the body is over the limit of {self.max_request_bytes} bytes"
                    + (f" (Content-Length: {length})" if declared_over else "")
                    + "; split the request or raise --max-request-bytes",
                )
                return
            await self.app(scope, _replay(body, receive), send_and_record)
        finally:
            route = path if path in self.routes else UNMATCHED  # bounded label set, whatever clients send
            self.metrics.on_request(route, status_holder[0], time.perf_counter() - started)

    async def _read_body(self, receive: Any) -> list[dict] | None:
        """The request's body messages, read up to the limit on the bytes actually received (a chunked
        upload has no Content-Length to check); None as soon as it goes over."""
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages  # the client went away; the app sees that as it would have
            size += len(message.get("body", b""))
            if size > self.max_request_bytes:
                return None
            if not message.get("more_body", False):
                return messages

    def _authorized(self, headers: dict[str, str]) -> bool:
        """Constant-time comparison of the raw header bytes (any byte a client sends is just a wrong key)."""
        value = headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode("latin-1"), self.api_key or b"")


def _replay(messages: list[dict], receive: Any) -> Any:
    """A receive that hands the app the already-read body, then listens to the client again."""
    pending = list(messages)

    async def replayed() -> dict:
        return pending.pop(0) if pending else await receive()

    return replayed


async def _reply(send: Any, status: int, kind: str, message: str, extra: list | None = None) -> None:
    body = json.dumps({"detail": message, "error": kind}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
