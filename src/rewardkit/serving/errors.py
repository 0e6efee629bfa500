"""The one place where rewardkit errors become HTTP statuses and JSON bodies."""

from __future__ import annotations

import http
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from rewardkit.errors import (
    BatchFailedError,
    EmptyInputError,
    EngineDeadError,
    InputTooLongError,
    InvalidInputError,
    MemberFailedError,
    ModelNotFoundError,
    ModelOutputError,
    QueueFullError,
    RewardKitError,
    RuleFailedError,
    RulesUnavailableError,
    TooManyItemsError,
    whole_seconds,
)
from rewardkit.serving.dialects import dialect_of

__all__ = ["error_body", "error_response", "install_error_handlers", "response_for", "status_for"]

log = logging.getLogger("rewardkit.serving")

STATUS = [  # most specific first
    (InputTooLongError, 413),
    (TooManyItemsError, 413),
    (ModelNotFoundError, 404),
    (EmptyInputError, 400),
    (InvalidInputError, 422),
    (QueueFullError, 503),
    (EngineDeadError, 503),
    (BatchFailedError, 500),
    (ModelOutputError, 500),
    (MemberFailedError, 502),
    (RuleFailedError, 500),
    (RulesUnavailableError, 503),
]


def status_for(exc: BaseException) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


VLLM_ERROR_TYPES = {400: "BadRequestError", 404: "NotFoundError", 413: "BadRequestError", 422: "BadRequestError"}
TEI_ERROR_TYPES = {400: "Validation", 404: "Validation", 413: "Validation", 422: "Validation", 503: "Overloaded"}
TEI_ERROR_KINDS = {"EmptyInputError": "Empty", "EngineDeadError": "Unhealthy", "ShuttingDown": "Unhealthy"}


def error_body(status: int, kind: str, message: str, dialect: str = "rewardkit") -> dict[str, Any]:
    """An error as the client expects it: rewardkit's ``{"detail", "error"}``; vLLM's OpenAI-style
    ``{"error": {"message", "type", "param", "code"}}``; TEI's ``{"error", "error_type"}``."""
    if dialect == "vllm":
        kind = VLLM_ERROR_TYPES.get(status, kind)
        return {"error": {"message": message, "type": kind, "param": None, "code": status}}
    if dialect == "tei":
        return {"error": message, "error_type": TEI_ERROR_KINDS.get(kind) or TEI_ERROR_TYPES.get(status, "Backend")}
    return {"detail": message, "error": kind}


def error_response(
    status: int, kind: str, message: str, headers: dict[str, str] | None = None, dialect: str = "rewardkit"
) -> JSONResponse:
    if dialect == "vllm" and status == 422:
        status = 400  # vLLM answers every invalid request with 400 BadRequestError
    return JSONResponse(error_body(status, kind, message, dialect), status_code=status, headers=headers)


def response_for(exc: RewardKitError, dialect: str = "rewardkit") -> JSONResponse:
    """The answer to one of rewardkit's own errors: its status, its kind, and Retry-After where the
    error says when to retry (a full queue, reward-function workers that cannot start)."""
    wait = exc.retry_after if isinstance(exc, (QueueFullError, RulesUnavailableError)) else None
    retry = {"Retry-After": str(whole_seconds(wait))} if wait is not None else None
    return error_response(status_for(exc), type(exc).__name__, str(exc), retry, dialect)


def _describe(errors: list[dict]) -> str:
    parts = []
    for err in errors:
        if err.get("type") == "model_attributes_type" and tuple(err.get("loc", ())) == ("body",):
            parts.append("the body must be a JSON object (and sent with Content-Type: application/json)")
            continue
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def _framework_error(request: Request, exc: HTTPException) -> tuple[str, str]:
    """(kind, message) for an error the framework raised before any rewardkit code ran."""
    method, path = request.method, request.url.path[:80]
    if exc.status_code == 404:
        return "NotFound", f"no route {method} {path}; the routes are listed at /docs"
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return "MethodNotAllowed", f"{method} is not allowed on {path}; use {allowed or 'another method'}"
    if exc.status_code == 400:
        cause = exc.__cause__
        why = {
            UnicodeDecodeError: "it is not valid UTF-8",
            RecursionError: "it nests too deeply",
        }.get(type(cause), f"{cause}" if isinstance(cause, ValueError) else "it cannot be parsed")
        return "MalformedJSON", f"the request body cannot be read as JSON: {why[:200]}; send a UTF-8 JSON object"
    phrase = http.HTTPStatus(exc.status_code).phrase if exc.status_code in iter(http.HTTPStatus) else "Error"
    return phrase.replace(" ", ""), str(exc.detail)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def _framework(request: Request, exc: HTTPException) -> JSONResponse:
        kind, message = _framework_error(request, exc)
        return error_response(exc.status_code, kind, message, exc.headers, dialect_of(request))

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
                dialect=dialect_of(request),
            )
        return error_response(422, "InvalidInputError", _describe(errors), dialect=dialect_of(request))

    @app.exception_handler(RewardKitError)
    async def _ours(request: Request, exc: RewardKitError) -> JSONResponse:
        return response_for(exc, dialect_of(request))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return error_response(
            500, "InternalError", f"unexpected {type(exc).__name__}: {exc}", dialect=dialect_of(request)
        )
