"""Text Embeddings Inference's classifier API (/predict, /rerank), so TEI clients talk to rewardkit
unchanged, now with any reward model rather than only encoder classifiers. A lone text is scored
as a full text; a pair (a, b) as the reward of b answering a (one user turn, one assistant turn)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from rewardkit.errors import EmptyInputError, InvalidInputError
from rewardkit.scoring.ensemble import gather_or_cancel
from rewardkit.serving.common import count_truncated, service_of, within_limits
from rewardkit.serving.dialects import activated, read_body, result_labels, result_values, speaking
from rewardkit.serving.parsing import JSONRoute
from rewardkit.types import ScoreResult, with_answer

__all__ = ["rerank", "router"]

router = APIRouter(route_class=JSONRoute)


class _Request(BaseModel):
    """TEI's common fields; truncation follows the server's --truncation (TEI's per-request
    'truncate' and 'truncation_direction' are accepted and not applied)."""

    model_config = ConfigDict(extra="allow")

    raw_scores: bool = False
    truncate: bool | None = None
    truncation_direction: str | None = None


class _Predict(_Request):
    inputs: Any


class _Rerank(_Request):
    query: str
    texts: list[str]
    return_text: bool = False


def _item(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= 2 or not all(isinstance(v, str) for v in value):
        raise InvalidInputError(f"{where}: expected a text, or a pair of texts [a, b]")
    return tuple(value)


def _predict_inputs(inputs: Any) -> tuple[list[tuple[str, ...]], bool]:
    """TEI's reading of 'inputs': "text" (one), ["a", "b"] (one pair), [["a"], ["a", "b"], ...] (a
    batch). A flat list of several texts is not a batch in TEI either. -> (items, is_batch)."""
    if isinstance(inputs, str):
        return [(inputs,)], False
    if isinstance(inputs, list) and inputs and isinstance(inputs[0], str):
        return [_item(inputs, "inputs")], False
    if isinstance(inputs, list) and inputs and all(isinstance(i, list) for i in inputs):
        return [_item(item, f"inputs.{i}") for i, item in enumerate(inputs)], True
    raise InvalidInputError('inputs: send "text", a pair ["a", "b"], or a batch [["a"], ["a", "b"], ...]')


async def _score_items(request: Request, items: list[tuple[str, ...]]) -> list[ScoreResult]:
    """Lone texts and pairs scored at once, back in input order."""
    within_limits(request, [sum(len(part) for part in item) for item in items])
    service = service_of(request)
    lone = [i for i, item in enumerate(items) if len(item) == 1]
    pairs = [i for i, item in enumerate(items) if len(item) == 2]
    conversations = [with_answer(items[i][0], items[i][1]) for i in pairs]
    jobs = []
    if lone:
        jobs.append(service.score_results([items[i][0] for i in lone]))
    if pairs:
        jobs.append(service.score_results(conversations))
    answers = await gather_or_cancel(*jobs)
    results: list[Any] = [None] * len(items)
    for indices in (lone, pairs):
        if indices:
            for i, result in zip(indices, answers.pop(0)):
                results[i] = result
    count_truncated(request, results)
    return results


def _ranked_labels(result: ScoreResult, raw: bool, single: str) -> list[dict[str, Any]]:
    scores = activated(result_values(result), not raw)
    pairs = [{"score": s, "label": label} for s, label in zip(scores, result_labels(result, single))]
    return sorted(pairs, key=lambda p: -p["score"])


@router.post("/predict", summary="TEI's /predict")
async def predict(request: Request, raw: Any = Body(...)) -> JSONResponse:
    """Every label of each input, best first: ``[{"score", "label"}]`` (a batch: one list per input)."""
    speaking(request, "tei")
    body = read_body(_Predict, raw)
    items, batch = _predict_inputs(body.inputs)
    results = await _score_items(request, items)
    outputs = service_of(request).info().get("outputs") or []
    single = outputs[0] if len(outputs) == 1 else "LABEL_0"
    answers = [_ranked_labels(r, body.raw_scores, single) for r in results]
    return JSONResponse(answers if batch else answers[0])


async def rerank(request: Request, raw: dict[str, Any]) -> JSONResponse:
    """TEI's /rerank: each text's reward as the answer to the query, best first."""
    speaking(request, "tei")
    body = read_body(_Rerank, raw)
    if not body.texts:
        raise EmptyInputError("'texts' is empty; send the texts to rank")
    results = await _score_items(request, [(body.query, text) for text in body.texts])
    ranked = []
    for index, result in enumerate(results):
        entry: dict[str, Any] = {"index": index, "score": activated([result.score], not body.raw_scores)[0]}
        if body.return_text:
            entry["text"] = body.texts[index]
        ranked.append(entry)
    return JSONResponse(sorted(ranked, key=lambda e: -e["score"]))
