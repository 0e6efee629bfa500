"""Pure-ASGI middleware around every request: what must hold whatever a client sends or does.

- Bearer-token auth (serving/keys.py), before anything is read; /health and the paths given as
  ``open_paths`` (the /ui page's static files, which hold no data) are served without a key.
- The body is read up to --max-request-bytes on the bytes actually received (a chunked upload has no
  Content-Length to check) and within --body-timeout (a stalled upload does not hold a connection).
- While the app works, the connection is watched: a client that leaves cancels its request, and the
  cancellation drops its queued items and stops its tokenizing. A request past its deadline
  (--request-timeout, or a client's X-Request-Timeout) is cancelled the same way and answered 504.
- A POST that arrives while the queue cannot take a single sequence is refused 503 before its body
  is read (Retry-After from the engine's measured rate); others are admitted or refused by the
  engine before tokenizing.
- While the server drains (SIGTERM), new requests get 503; requests still running when the drain
  time is up are answered 503 as they are cancelled.
- Metrics are labelled by the app's own route paths (anything else is "unmatched", so clients cannot
  grow /metrics); every 4xx writes one log line, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from rewardkit.errors import QueueFullError, whole_seconds
from rewardkit.serving.dialects import dialect_for_path
from rewardkit.serving.errors import error_response, response_for
from rewardkit.serving.keys import ApiKeys
from rewardkit.serving.metrics import ServerMetrics

__all__ = ["CLIENT_CLOSED", "Drain", "GuardMiddleware", "Limits"]

log = logging.getLogger("rewardkit.serving")

OPEN_PATHS = frozenset({"/health"})
UNMATCHED = "unmatched"
CLIENT_CLOSED = 499
"""The status a request is counted under when its client left before the answer (nginx's convention)."""
TIMEOUT_HEADER = "x-request-timeout"


@dataclass(frozen=True)
class Limits:
    """What the guard enforces (the ServerConfig fields of the same names)."""

    max_request_bytes: int
    body_timeout: float | None = None
    request_timeout: float | None = None


class Drain:
    """Whether the server has been told to stop (SIGTERM): from then on /health says so and new
    requests are refused, while requests already running finish (``app.state.drain``)."""

    def __init__(self) -> None:
        self.begun = False

    def begin(self) -> None:
        self.begun = True

    def __bool__(self) -> bool:
        return self.begun


class GuardMiddleware:
    def __init__(
        self,
        app: Any,
        *,
        metrics: ServerMetrics,
        keys: ApiKeys,
        limits: Limits,
        drain: Drain,
        saturated: Callable[[], float | None] = lambda: None,
        routes: frozenset[str] = frozenset(),
        open_paths: frozenset[str] = OPEN_PATHS,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.keys = keys
        self.limits = limits
        self.drain = drain
        self.saturated = saturated
        self.routes = routes
        self.open_paths = open_paths

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        response = _Response(send, dialect_for_path(scope.get("path", "")))
        try:
            await self._guarded(scope, receive, response)
        finally:
            path = scope.get("path", "")
            route = path if path in self.routes else UNMATCHED  # bounded label set, whatever clients send
            self.metrics.on_request(route, response.status, time.perf_counter() - started)
            if 400 <= response.status < 500 and response.status != CLIENT_CLOSED:
                log.warning("%s %s -> %d %s", scope.get("method"), route, response.status, response.summary)

    async def _guarded(self, scope: dict, receive: Any, response: _Response) -> None:
        headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}
        path = scope.get("path", "")
        if self.keys.required and path not in self.open_paths and not self._authorized(headers):
            await response.error(
                401,
                "Unauthorized",
                "missing or wrong API key: send 'Authorization: Bearer <key>'",
                [(b"www-authenticate", b"Bearer")],
            )
            return
        if self.drain and path not in OPEN_PATHS:
            await response.error(503, "ShuttingDown", "the server is shutting down; retry against another replica")
            return
        wait = self.saturated() if scope.get("method") == "POST" and path in self.routes else None
        if wait is not None:  # refused before the body is read, let alone parsed or tokenized
            full = QueueFullError(f"the queue is full; retry in about {whole_seconds(wait)} s", retry_after=wait)
            await response.reply(response_for(full, response.dialect), [(b"connection", b"close")])
            return
        deadline = self._deadline(headers)
        if isinstance(deadline, str):
            await response.error(422, "InvalidInputError", deadline)
            return
        body = await self._read_body(receive, headers, response)
        if body is None:
            return
        if body[-1]["type"] == "http.disconnect":  # the client left mid-upload: nothing to answer
            response.status = CLIENT_CLOSED
            return
        await self._run(scope, body, receive, response, deadline)

    def _authorized(self, headers: dict[str, bytes]) -> bool:
        scheme, _, token = headers.get("authorization", b"").partition(b" ")
        return scheme.lower() == b"bearer" and self.keys.accepts(token.strip())

    def _deadline(self, headers: dict[str, bytes]) -> float | str | None:
        """Seconds this request may take: the server's --request-timeout, shortened by the client's
        X-Request-Timeout; a malformed header is the caller's error (a message)."""
        limit = self.limits.request_timeout
        raw = headers.get(TIMEOUT_HEADER)
        if raw is None:
            return limit
        try:
            asked = float(raw.decode("latin-1"))
        except ValueError:
            asked = float("nan")
        if not asked > 0 or asked == float("inf"):
            return f"X-Request-Timeout must be a positive number of seconds, got {raw.decode('latin-1')[:40]!r}"
        return asked if limit is None else min(asked, limit)

    async def _read_body(self, receive: Any, headers: dict[str, bytes], response: _Response) -> list[dict] | None:
        """The body as one message (the framework then reads it without another copy), or None once an
        error has been answered (too large, too slow)."""
        limit = self.limits.max_request_bytes
        length = headers.get("content-length", b"").decode("latin-1")
        if length.isascii() and length.isdigit() and int(length) > limit:  # refuse early when it says so
            await response.too_large(limit, f" (Content-Length: {length})")
            return None
        received = bytearray()  # one growing buffer: the small chunks are freed as they arrive
        timeout = self.limits.body_timeout
        ends = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                wait = None if ends is None else max(ends - time.monotonic(), 0.0)
                message = await asyncio.wait_for(receive(), wait)
            except asyncio.TimeoutError:
                await response.error(
                    408,
                    "RequestTimeout",
                    f"the request body did not arrive within {timeout:g} s; send it at once or raise --body-timeout",
                    [(b"connection", b"close")],
                )
                return None
            if message["type"] != "http.request":
                return [message]  # the client went away; the app sees that as it would have
            received += message.get("body", b"")
            if len(received) > limit:
                await response.too_large(limit)
                return None
            if not message.get("more_body", False):
                return [{"type": "http.request", "body": received, "more_body": False}]  # read once, not copied

    async def _run(
        self, scope: dict, body: list[dict], receive: Any, response: _Response, deadline: float | None
    ) -> None:
        """Run the app while watching the client and the clock; whichever ends first wins."""
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        async def replayed() -> dict:
            if body:
                return body.pop(0)
            await gone.wait()
            return {"type": "http.disconnect"}

        work = asyncio.ensure_future(self.app(scope, replayed, response.send))
        watcher = asyncio.ensure_future(watch())
        try:
            done, _ = await asyncio.wait({work, watcher}, timeout=deadline, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the server stopped waiting (drain time is up): answer, then go
            await _cancel(work)
            if not response.started:
                await response.error(503, "ShuttingDown", "the server shut down before this request finished")
            raise
        finally:
            watcher.cancel()
        if work in done:
            work.result()  # the app's own outcome, errors included
            return
        await _cancel(work)  # its queued items and tokenizing stop with it
        if watcher in done:
            response.status = CLIENT_CLOSED
        elif not response.started:
            await response.error(
                504,
                "RequestTimeout",
                f"the request did not finish within {deadline:g} s (--request-timeout or X-Request-Timeout); "
                "its queued work was dropped; retry, send less at once, or allow more time",
            )


async def _cancel(task: asyncio.Future) -> None:
    """Cancel ``task`` and wait for it to end; a cancellation of the caller itself still propagates."""
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # retrieved, so it is not reported as never retrieved


class _Response:
    """The ASGI send of one request, remembering its status and the start of an error body."""

    def __init__(self, send: Any, dialect: str = "rewardkit") -> None:
        self._send = send
        self.dialect = dialect  # whose error body the client expects (serving/dialects.py)
        self.status = 500
        self.started = False
        self.summary = ""

    async def send(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self.status, self.started = message["status"], True
        elif message["type"] == "http.response.body" and self.status >= 400 and not self.summary:
            self.summary = _summary(message.get("body", b""))
        await self._send(message)

    async def error(self, status: int, kind: str, message: str, extra: list | None = None) -> None:
        await self.reply(error_response(status, kind, message, dialect=self.dialect), extra)

    async def reply(self, answer: Response, extra: list | None = None) -> None:
        """Send a response built by serving/errors.py (the one error body), with ``extra`` raw headers."""
        headers = [*answer.raw_headers, *(extra or [])]
        await self.send({"type": "http.response.start", "status": answer.status_code, "headers": headers})
        await self.send({"type": "http.response.body", "body": answer.body})

    async def too_large(self, limit: int, declared: str = "") -> None:
        await self.error(
            413,
            "RequestTooLarge",
            f"the body is over the limit of {limit} bytes{declared}; split the request or raise --max-request-bytes",
            [(b"connection", b"close")],
        )


def _summary(body: bytes) -> str:
    """'Kind: detail' of an error body, cut short for a log line."""
    try:
        parsed = json.loads(body)
        text = f"{parsed.get('error', '')}: {parsed.get('detail', '')}"
    except (ValueError, AttributeError):
        text = body.decode("utf-8", "replace")
    return text[:300]
