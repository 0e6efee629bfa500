"""The one place where rewardkit errors become HTTP statuses and JSON bodies."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from rewardkit.errors import (
    BatchFailedError,
    EngineDeadError,
    InputTooLongError,
    InvalidInputError,
    MemberFailedError,
    ModelOutputError,
    QueueFullError,
    RewardKitError,
    TooManyItemsError,
)

__all__ = ["error_response", "install_error_handlers", "status_for"]

log = logging.getLogger("rewardkit.serving")

STATUS = [  # most specific first
    (InputTooLongError, 413),
    (TooManyItemsError, 413),
    (InvalidInputError, 422),
    (QueueFullError, 503),
    (EngineDeadError, 503),
    (BatchFailedError, 500),
    (ModelOutputError, 500),
    (MemberFailedError, 502),
]


def status_for(exc: BaseException) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": message, "error": kind}, status_code=status, headers=headers)


def _describe(errors: list[dict]) -> str:
    parts = []
    for err in errors:
        if err.get("type") == "model_attributes_type" and tuple(err.get("loc", ())) == ("body",):
            parts.append("the body must be a JSON object (and sent with Content-Type: application/json)")
            continue
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        broken = [e for e in errors if e.get("type") == "json_invalid"]
        if broken:
            position = broken[0].get("loc", ("body", "?"))[-1]
            return error_response(
                400,
                "MalformedJSON",
                f"the request body is not valid JSON (error at character {position}); send a JSON object",
            )
        return error_response(422, "InvalidInputError", _describe(errors))

    @app.exception_handler(RewardKitError)
    async def _ours(request: Request, exc: RewardKitError) -> JSONResponse:
        status = status_for(exc)
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if isinstance(exc, QueueFullError) else None
        return error_response(status, type(exc).__name__, str(exc), headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return error_response(500, "InternalError", f"unexpected {type(exc).__name__}: {exc}")
