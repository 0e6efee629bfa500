"""vLLM's pooling API, so vLLM clients (verl's reward loop, Ray Data's HTTP processor, OpenAI-style
callers) talk to rewardkit in vLLM's shapes: /classify, /pooling, /score and /rerank, and GET
/v1/models. Field by field as vLLM's pooling server has them, with differences a client can see
(docs/http-api.md): scores are raw rewards unless the body says use_activation (vLLM applies the
activation by default; a reward trainer wants the raw reward, and verl asks for it), text input only,
every model format served."""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from typing import Any, Literal

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from rewardkit.errors import InvalidInputError
from rewardkit.serving.common import count_truncated, service_of, within_limits
from rewardkit.serving.dialects import (
    activated,
    check_model,
    created,
    read_body,
    request_id,
    result_labels,
    result_values,
    speaking,
    text_messages,
)
from rewardkit.serving.parsing import JSONRoute
from rewardkit.types import Conversation, ScoreResult, with_answer

__all__ = ["rerank", "router", "score"]

router = APIRouter(route_class=JSONRoute)

Inputs = str | list[str] | list[int] | list[list[int]]
SCORE_SIDES = (("queries", "documents"), ("queries", "items"), ("data_1", "data_2"), ("text_1", "text_2"))
"""vLLM's /score body shapes, in the order it tries them (text_1/text_2 is the original one)."""


class _Request(BaseModel):
    """What every vLLM pooling request may carry; unknown fields are ignored, as vLLM ignores them."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    truncate_prompt_tokens: int | None = Field(None, ge=-1)
    add_special_tokens: bool = True
    use_activation: bool | None = None
    activation: bool | None = Field(None, description="Older vLLM's name of use_activation (older verl sends it).")
    softmax: bool | None = Field(None, description="Older vLLM's name of use_activation on /score and /rerank.")

    def activation_on(self) -> bool:
        """rewardkit answers raw rewards unless asked (vLLM's own default is to apply the activation)."""
        for value in (self.use_activation, self.activation, self.softmax):
            if value is not None:
                return value
        return False


class _Classify(_Request):
    input: Inputs | None = None
    messages: list[Any] | None = None

    def what(self) -> tuple[list[str] | None, list[Conversation] | None]:
        """(texts, None) for 'input', (None, [conversation]) for 'messages'."""
        if (self.input is None) == (self.messages is None):
            raise InvalidInputError("send exactly one of 'input' (text or a list of texts) or 'messages' (a chat)")
        if self.messages is not None:
            return None, [text_messages(self.messages)]
        texts = [self.input] if isinstance(self.input, str) else list(self.input or [])
        if not texts:
            raise InvalidInputError("'input' is empty; send a text or a list of texts")
        if not all(isinstance(t, str) for t in texts):
            raise InvalidInputError(
                "token-id input is not served: rewardkit tokenizes with the model's own tokenizer; send the text"
            )
        if not self.add_special_tokens:
            raise InvalidInputError(
                "add_special_tokens=false is not served: texts are tokenized with the tokenizer's special tokens, "
                "as vLLM does by default; remove the special tokens from the text instead"
            )
        return texts, None


class _Pooling(_Classify):
    task: str | None = None
    encoding_format: Literal["float", "base64"] = "float"


class _Score(_Request):
    top_n: int = Field(0, ge=0)


def _check_truncation(request: Request, body: _Request) -> None:
    """rewardkit cuts every input at the server's --max-length (keeping the end by default); a request
    may not ask for a shorter cut."""
    limit = service_of(request).info().get("max_length")
    asked = body.truncate_prompt_tokens
    if asked not in (None, -1) and limit is not None and asked < limit:
        raise InvalidInputError(
            f"truncate_prompt_tokens={asked} is shorter than the server's --max-length ({limit}); per-request "
            f"truncation is not served: omit it (or send -1), or start the server with --max-length {asked}"
        )


async def _results(
    request: Request, texts: list[str] | None, conversations: list[Conversation] | None
) -> list[ScoreResult]:
    service = service_of(request)
    if texts is not None:
        within_limits(request, [len(t) for t in texts])
        results = await service.score_results(texts)
    else:
        within_limits(request, [sum(len(m["content"]) for m in c) for c in conversations or []])
        results = await service.score_results(conversations or [])
    count_truncated(request, results)
    return results


def _usage(results: Sequence[ScoreResult]) -> dict[str, Any]:
    tokens = sum(r.num_tokens for r in results)
    return {
        "prompt_tokens": tokens,
        "total_tokens": tokens,
        "completion_tokens": 0,
        "prompt_tokens_details": None,
        "completion_tokens_details": None,
    }


def _label(request: Request) -> str:
    outputs = service_of(request).info().get("outputs") or []
    return outputs[0] if len(outputs) == 1 else "LABEL_0"


@router.post("/classify", summary="vLLM's /classify")
@router.post("/v1/classify", include_in_schema=False)
async def classify(request: Request, raw: Any = Body(...)) -> JSONResponse:
    """Each input's reward as vLLM's classification answer (``data[i].probs[-1]`` is the reward)."""
    speaking(request, "vllm")
    body = read_body(_Classify, raw)
    name = check_model(request, body.model)
    _check_truncation(request, body)
    results = await _results(request, *body.what())
    single = _label(request)
    data = []
    for index, result in enumerate(results):
        probs = activated(result_values(result), body.activation_on())
        labels = result_labels(result, single)
        data.append(
            {"index": index, "label": labels[probs.index(max(probs))], "probs": probs, "num_classes": len(probs)}
        )
    return JSONResponse(
        {
            "id": request_id(request, "classify"),
            "object": "list",
            "created": created(),
            "model": name,
            "data": data,
            "usage": _usage(results),
        }
    )


def _pooling_task(body: _Pooling, stepped: bool) -> str:
    task = body.task or ("token_classify" if stepped else "classify")
    if task == "score":
        raise InvalidInputError("task 'score' was removed from /pooling (as in vLLM); use task 'classify'")
    if task == "encode":
        raise InvalidInputError("task 'encode' was removed from /pooling (as in vLLM); use task 'token_classify'")
    if task not in ("classify", "token_classify"):
        raise InvalidInputError(
            f"task {task!r} is not served: rewardkit serves reward models; use 'classify' (one reward per input) "
            "or 'token_classify' (process reward models: one row per reasoning step)"
        )
    if task == "token_classify" and not stepped:
        raise InvalidInputError("task 'token_classify' needs a process reward model (per-step scores); use 'classify'")
    return task


def _encoded(values: list[Any], encoding: str) -> Any:
    if encoding == "float":
        return values
    flat = [v for row in values for v in row] if values and isinstance(values[0], list) else values
    return base64.b64encode(struct.pack(f"<{len(flat)}f", *flat)).decode("ascii")


@router.post("/pooling", summary="vLLM's /pooling")
@router.post("/v1/pooling", include_in_schema=False)
async def pooling(request: Request, raw: Any = Body(...)) -> JSONResponse:
    """task 'classify': each input's class vector (as /classify); 'token_classify' (process reward
    models): one ``[score]`` row per reasoning step, as vLLM's step pooler answers."""
    speaking(request, "vllm")
    body = read_body(_Pooling, raw)
    name = check_model(request, body.model)
    _check_truncation(request, body)
    stepped = service_of(request).info().get("steps") is not None
    task = _pooling_task(body, stepped)
    results = await _results(request, *body.what())
    data = []
    for index, result in enumerate(results):
        if task == "classify":
            values: list[Any] = activated(result_values(result), body.activation_on())
        else:
            values = [[step] for step in result.steps or ()]
        data.append({"index": index, "object": "pooling", "data": _encoded(values, body.encoding_format)})
    return JSONResponse(
        {
            "id": request_id(request, "pooling"),
            "object": "list",
            "created": created(),
            "model": name,
            "data": data,
            "usage": _usage(results),
        }
    )


def _side(value: Any, name: str) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise InvalidInputError(f"'{name}' must be a text or a non-empty list of texts")
    for i, text in enumerate(values):
        if not isinstance(text, str):
            raise InvalidInputError(f"{name}.{i}: only text can be scored (multimodal content is not served)")
    return values


def _pairs(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """The (query, document) pairs of a /score body: 1:1, 1:N (one query for every document) or N:N."""
    for first, second in SCORE_SIDES:
        if first in raw and second in raw:
            queries, documents = _side(raw[first], first), _side(raw[second], second)
            break
    else:
        raise InvalidInputError(
            "send 'queries' and 'documents' (or 'items'), or the older 'data_1'/'data_2' or 'text_1'/'text_2'"
        )
    if len(queries) == 1:
        queries = queries * len(documents)
    if len(queries) != len(documents):
        raise InvalidInputError(
            f"{len(queries)} queries and {len(documents)} documents: the lengths must be 1:1, 1:N or N:N"
        )
    return list(zip(queries, documents))


def _conversations(pairs: Sequence[tuple[str, str]]) -> list[Conversation]:
    """A (query, document) pair is scored as the reward of the document answering the query: one
    user turn and one assistant turn through the model's chat template."""
    return [with_answer(q, d) for q, d in pairs]


def is_vllm_score(raw: Any) -> bool:
    return isinstance(raw, dict) and any(first in raw or second in raw for first, second in SCORE_SIDES)


async def score(request: Request, raw: dict[str, Any]) -> JSONResponse:
    """vLLM's /score: the reward of each document as the answer to its query."""
    speaking(request, "vllm")
    body = read_body(_Score, raw)
    name = check_model(request, body.model)
    _check_truncation(request, body)
    results = await _results(request, None, _conversations(_pairs(raw)))
    use = body.activation_on()
    data = [{"index": i, "object": "score", "score": activated([r.score], use)[0]} for i, r in enumerate(results)]
    return JSONResponse(
        {
            "id": request_id(request, "score"),
            "object": "list",
            "created": created(),
            "model": name,
            "data": data,
            "usage": _usage(results),
        }
    )


@router.post("/v1/score", summary="vLLM's /score (queries/documents)")
async def v1_score(request: Request, raw: dict[str, Any] = Body(...)) -> JSONResponse:
    return await score(request, raw)


class _Rerank(_Score):
    query: str
    documents: str | list[str]


async def rerank(request: Request, raw: dict[str, Any]) -> JSONResponse:
    """vLLM's (Jina/Cohere-style) rerank: documents by reward as answers to the query, best first."""
    speaking(request, "vllm")
    body = read_body(_Rerank, raw)
    name = check_model(request, body.model)
    _check_truncation(request, body)
    documents = _side(body.documents, "documents")
    results = await _results(request, None, _conversations([(body.query, d) for d in documents]))
    use = body.activation_on()
    ranked = sorted(
        (
            {"index": i, "document": {"text": documents[i], "multi_modal": None}, "relevance_score": s}
            for i, s in enumerate(activated([r.score], use)[0] for r in results)
        ),
        key=lambda item: -item["relevance_score"],
    )
    tokens = sum(r.num_tokens for r in results)
    return JSONResponse(
        {
            "id": request_id(request, "score"),
            "model": name,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            "results": ranked[: body.top_n or None],
        }
    )


@router.post("/v1/rerank", summary="vLLM's /rerank")
@router.post("/v2/rerank", include_in_schema=False)
async def v1_rerank(request: Request, raw: dict[str, Any] = Body(...)) -> JSONResponse:
    return await rerank(request, raw)


@router.get("/v1/models", summary="The served model (OpenAI / vLLM)")
async def models(request: Request) -> JSONResponse:
    speaking(request, "vllm")
    info = service_of(request).info()
    now = created()
    card = {
        "id": request.app.state.model_name,
        "object": "model",
        "created": now,
        "owned_by": "rewardkit",
        "root": info.get("path") or request.app.state.model_name,
        "parent": None,
        "max_model_len": info.get("max_length"),
        "permission": [
            {
                "id": f"modelperm-{request_id(request, 'perm').split('-', 1)[1]}",
                "object": "model_permission",
                "created": now,
                "allow_create_engine": False,
                "allow_sampling": False,
                "allow_logprobs": False,
                "allow_search_indices": False,
                "allow_view": True,
                "allow_fine_tuning": False,
                "organization": "*",
                "group": None,
                "is_blocking": False,
            }
        ],
    }
    return JSONResponse({"object": "list", "data": [card]})
