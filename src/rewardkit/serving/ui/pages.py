"""The routes of the /ui page's files and the security headers on every /ui response. Knows nothing
about models or scoring: the files are shipped as package data and served as they are."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response

__all__ = ["PAGE_PATHS", "SECURITY_HEADERS", "UiHeaders", "install_ui"]

PREFIX = "/ui"
INDEX = "index.html"
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "examples.json": "application/json",
}
PAGES = (PREFIX, f"{PREFIX}/", f"{PREFIX}/metrics")
"""The HTML page's paths: the playground, and the dashboard opened on its own tab."""
PAGE_PATHS = frozenset([*PAGES, *(f"{PREFIX}/{name}" for name in ASSETS)])

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
]
"""Nothing but this server's own files and API, no inline script, never inside a frame."""


@cache
def _file(name: str) -> bytes:
    return (files(__package__) / "static" / name).read_bytes()


def _serve(name: str, media_type: str) -> Any:
    async def serve() -> Response:
        return Response(_file(name), media_type=media_type)

    return serve


def _router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    for path in PAGES:
        router.add_api_route(path, _serve(INDEX, "text/html; charset=utf-8"), methods=["GET", "HEAD"])
    for name, media_type in ASSETS.items():
        router.add_api_route(f"{PREFIX}/{name}", _serve(name, media_type), methods=["GET", "HEAD"])
    return router


class UiHeaders:
    """Pure ASGI: adds SECURITY_HEADERS to every response under /ui, a 404 or 405 included."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in SECURITY_HEADERS if name not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def install_ui(app: FastAPI) -> None:
    """Serve the page on ``app``. Call it after the guard middleware is added: the headers then go
    on the guard's answers under /ui too (a 401, a 503). The guard must let PAGE_PATHS through
    without a key and count them as routes."""
    app.include_router(_router())
    app.add_middleware(UiHeaders)
