"""JSON request bodies held at most twice while parsed. The framework keeps the body's bytes while
the standard library decodes them into a second string and parses that into a third, so a 50 MB
body peaks at three copies. Here the body is decoded and its bytes let go before parsing; anything
that does not decode or parse goes the framework's own way, so errors stay exactly what they were."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

__all__ = ["JSONRoute"]

PLACEHOLDER = b"{}"
"""What the framework is shown as the body once it has been parsed here (it then reads the parsed value)."""


async def _parse_early(request: Request) -> None:
    if "json" not in request.headers.get("content-type", ""):
        return
    chunks = [chunk async for chunk in request.stream()]
    raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)  # the guard hands over one chunk
    del chunks
    try:
        text = str(raw, "utf-8")  # bytes or bytearray alike, without a copy first
    except UnicodeDecodeError:
        request._body = bytes(raw)  # the framework's path, and its error
        return
    del raw
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        request._body = text.encode("utf-8")
        return
    request._body, request._json = PLACEHOLDER, parsed


class JSONRoute(APIRoute):
    """An APIRoute whose JSON body is parsed with at most two copies alive (see the module's note)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parsed_early(request: Request) -> Response:
            await _parse_early(request)
            return await handler(request)

        return parsed_early
