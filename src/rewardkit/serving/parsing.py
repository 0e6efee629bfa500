"""JSON request bodies held at most twice while parsed. The framework keeps the body's bytes while
the standard library decodes them into a second string and parses that into a third, so a 50 MB
body peaks at three copies. Here the body is decoded and its bytes let go before parsing, and the
route is handed a Request whose public ``body()``/``json()`` give the parsed value (no private
attribute of the framework is written); anything that does not decode or parse goes the framework's
own way, so errors stay exactly what they were."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

__all__ = ["JSONRoute"]

PLACEHOLDER = b"{}"
"""What the framework is shown as the body once it has been parsed here (it then reads the parsed value)."""

_UNPARSED = object()


class _ReadRequest(Request):
    """The request with its body already read here: the framework reads it through the public
    ``body()`` and ``json()``, which hand over the parsed value (or, when it did not parse, the bytes,
    so that the framework raises its own error) instead of reading the stream again."""

    def __init__(self, request: Request, raw: bytes, parsed: Any = _UNPARSED) -> None:
        super().__init__(request.scope, request.receive)
        self.read_raw, self.read_parsed = raw, parsed

    async def body(self) -> bytes:
        return self.read_raw

    async def json(self) -> Any:
        if self.read_parsed is _UNPARSED:
            return json.loads(self.read_raw)
        return self.read_parsed


async def _parse_early(request: Request) -> Request:
    if "json" not in request.headers.get("content-type", ""):
        return request
    chunks = [chunk async for chunk in request.stream()]
    raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)  # the guard hands over one chunk
    del chunks
    try:
        text = str(raw, "utf-8")  # bytes or bytearray alike, without a copy first
    except UnicodeDecodeError:
        return _ReadRequest(request, bytes(raw))  # the framework's path, and its error
    del raw
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return _ReadRequest(request, text.encode("utf-8"))
    return _ReadRequest(request, PLACEHOLDER, parsed)


class JSONRoute(APIRoute):
    """An APIRoute whose JSON body is parsed with at most two copies alive (see the module's note)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parsed_early(request: Request) -> Response:
            return await handler(await _parse_early(request))

        return parsed_early
