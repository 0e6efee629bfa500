"""Other servers' request conventions, shared by the routes that speak them: which error body a
client expects (vLLM's OpenAI-style one, TEI's), the served model's name, activations, chat
messages in OpenAI's content-part form, and reading a body against a schema inside a handler (so a
path that serves two dialects can choose by the fields first)."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Sequence
from typing import Any, Literal, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from rewardkit.errors import InvalidInputError
from rewardkit.types import Conversation, ScoreResult

__all__ = [
    "Dialect",
    "activated",
    "check_model",
    "dialect_for_path",
    "dialect_of",
    "read_body",
    "request_id",
    "result_labels",
    "result_values",
    "served_model_name",
    "speaking",
    "text_messages",
]

Dialect = Literal["rewardkit", "vllm", "tei"]
M = TypeVar("M", bound=BaseModel)


def speaking(request: Request, dialect: Dialect) -> None:
    """Mark the request's dialect, so any error it raises from here on has that dialect's body."""
    request.state.dialect = dialect


VLLM_PATHS = frozenset(
    {"/classify", "/v1/classify", "/pooling", "/v1/pooling", "/v1/score", "/v1/rerank", "/v2/rerank", "/v1/models"}
)
TEI_PATHS = frozenset({"/predict"})


def dialect_for_path(path: str) -> Dialect:
    """The dialect a path speaks before its body is read ('/score' and '/rerank' serve two, and are
    decided by their fields: until then, rewardkit's)."""
    return "vllm" if path in VLLM_PATHS else "tei" if path in TEI_PATHS else "rewardkit"


def dialect_of(request: Request) -> Dialect:
    return getattr(request.state, "dialect", None) or dialect_for_path(request.url.path)


def read_body(model: type[M], body: Any) -> M:
    """``body`` validated against ``model``; failures are the same 422 the framework gives."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None


def served_model_name(request: Request) -> str:
    return request.app.state.model_name


def check_model(request: Request, model: str | None) -> str:
    """The name to answer with. One server serves one model, so any 'model' a client sends is
    accepted (verl sends its own path for it; vLLM would answer 404 to a name it does not serve)."""
    return served_model_name(request)


def request_id(request: Request, prefix: str) -> str:
    """vLLM's response id: the client's X-Request-Id when it sent one, else a fresh uuid."""
    return f"{prefix}-{request.headers.get('x-request-id') or uuid.uuid4().hex}"


def created() -> int:
    return int(time.time())


def result_values(result: ScoreResult) -> list[float]:
    """A result as a class vector: the reward alone, or every objective and then the reward, so the
    last entry is always the reward (what verl reads as ``probs[-1]``)."""
    return [*result.objectives.values(), result.score] if result.objectives else [result.score]


def result_labels(result: ScoreResult, single: str) -> list[str]:
    return [*result.objectives, "reward"] if result.objectives else [single]


def _sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value)) if value >= 0 else math.exp(value) / (1.0 + math.exp(value))


def _softmax(values: Sequence[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = math.fsum(exps)
    return [e / total for e in exps]


def activated(values: Sequence[float], use: bool) -> list[float]:
    """vLLM's and TEI's activation over ``result_values``: a lone reward gets a sigmoid; with several
    outputs, the model's outputs get a softmax across them (as vLLM and TEI give a multi-label head)
    and the trailing reward its own sigmoid."""
    if not use:
        return list(values)
    if len(values) == 1:
        return [_sigmoid(values[0])]
    return [*_softmax(values[:-1]), _sigmoid(values[-1])]


def text_messages(messages: Sequence[Any]) -> Conversation:
    """OpenAI chat messages -> rewardkit's: content as a string or a list of text parts."""
    conversation: Conversation = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidInputError(f"messages.{i}: expected an object with a string 'role' and a 'content'")
        content = message.get("content")
        if isinstance(content, list):
            parts = []
            for j, part in enumerate(content):
                if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                    raise InvalidInputError(
                        f"messages.{i}.content.{j}: only text parts ({{'type': 'text', 'text': ...}}) can be scored"
                    )
                parts.append(part["text"])
            content = "".join(parts)
        if not isinstance(content, str):
            raise InvalidInputError(f"messages.{i}.content: expected a string or a list of text parts")
        conversation.append({"role": message["role"], "content": content})
    return conversation
