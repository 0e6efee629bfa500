"""Endpoints. Each is a schema in, a call on the ScoringService, a schema out; errors go to
serving/errors.py. Knows no torch and no concrete scorer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from rewardkit import __version__
from rewardkit.errors import InputTooLongError, TooManyItemsError
from rewardkit.scoring.protocols import ScoringService
from rewardkit.serving.parsing import JSONRoute
from rewardkit.serving.schemas import (
    BestOfNRequest,
    BestOfNResponse,
    CompareRequest,
    CompareResponse,
    GetRewardRequest,
    GetRewardResponse,
    RankRequest,
    RankResponse,
    ScoreBatchResponse,
    ScoreRequest,
    ScoreResponse,
)
from rewardkit.types import ScoreResult

__all__ = ["router"]

router = APIRouter(route_class=JSONRoute)


def _service(request: Request) -> ScoringService:
    return request.app.state.service


def _within_limits(request: Request, body: Any) -> None:
    """--max-items-per-request and --max-chars-per-item, checked before any tokenizing (HTTP 413)."""
    config = request.app.state.config
    sizes = body.item_sizes()
    if len(sizes) > config.max_items_per_request:
        raise TooManyItemsError(
            f"{len(sizes)} items in one request, more than --max-items-per-request ({config.max_items_per_request}); "
            "split the request, or raise --max-items-per-request"
        )
    longest = max(sizes, default=0)
    if longest > config.max_chars_per_item:
        raise InputTooLongError(
            f"item {sizes.index(longest)}: {longest} characters, more than --max-chars-per-item "
            f"({config.max_chars_per_item}); shorten it, or raise --max-chars-per-item"
        )


def _count_truncated(request: Request, results: list[ScoreResult]) -> None:
    n = sum(r.truncated for r in results)
    if n:
        request.app.state.metrics.truncated.inc(n)


@router.post(
    "/get_reward", response_model=GetRewardResponse, response_model_exclude_none=True, summary="OpenRLHF remote reward"
)
async def get_reward(body: GetRewardRequest, request: Request) -> GetRewardResponse:
    """Score full texts as OpenRLHF sends them; ``rewards`` and ``scores`` carry the same values."""
    _within_limits(request, body)
    results = await _service(request).score_texts(body.query, objective=body.objective)
    _count_truncated(request, results)
    rewards = [r.score for r in results]
    extra_logs: dict[str, list[float]] = {
        "truncated": [float(r.truncated) for r in results],
        "num_tokens": [float(r.num_tokens) for r in results],
    }
    for name in results[0].objectives:
        extra_logs[name] = [r.objectives[name] for r in results]
    for name in results[0].members:
        extra_logs[f"member/{name}"] = [r.members[name] for r in results]
    steps = None
    if results[0].steps is not None:
        steps = [list(r.steps or ()) for r in results]
        extra_logs["num_steps"] = [float(len(s)) for s in steps]
    return GetRewardResponse(rewards=rewards, scores=rewards, extra_logs=extra_logs, step_scores=steps)


@router.post(
    "/score",
    response_model=ScoreResponse | ScoreBatchResponse,
    response_model_exclude_none=True,
    summary="Score conversations",
)
async def score(body: ScoreRequest, request: Request) -> ScoreResponse | ScoreBatchResponse:
    """Apply the model's chat template server-side and score one conversation or a batch."""
    _within_limits(request, body)
    results = await _service(request).score_conversations(body.as_conversations(), objective=body.objective)
    _count_truncated(request, results)
    multi, stepped, ensemble = bool(results[0].objectives), results[0].steps is not None, bool(results[0].members)
    if body.messages is not None:
        r = results[0]
        return ScoreResponse(
            score=r.score,
            num_tokens=r.num_tokens,
            truncated=r.truncated,
            objectives=r.objectives if multi else None,
            steps=list(r.steps or ()) if stepped else None,
            members=r.members if ensemble else None,
        )
    return ScoreBatchResponse(
        scores=[r.score for r in results],
        num_tokens=[r.num_tokens for r in results],
        truncated=[r.truncated for r in results],
        objectives=[r.objectives for r in results] if multi else None,
        steps=[list(r.steps or ()) for r in results] if stepped else None,
        members=[r.members for r in results] if ensemble else None,
    )


@router.post(
    "/compare", response_model=CompareResponse, response_model_exclude_none=True, summary="Which of two is better"
)
async def compare(body: CompareRequest, request: Request) -> CompareResponse:
    """P(responses[0] better): a pairwise model averaged over both orders, or sigmoid of the reward gap."""
    _within_limits(request, body)
    result = await _service(request).compare(body.responses, **body.context())
    return CompareResponse(**result.as_dict())


@router.post("/rank", response_model=RankResponse, summary="Rank candidates (Best-of-N)")
async def rank(body: RankRequest, request: Request) -> RankResponse:
    """Best first: by reward, or by a knockout / round-robin tournament for pairwise models."""
    _within_limits(request, body)
    ranking = await _service(request).rank(body.responses, method=body.method, **body.context())
    return RankResponse(**ranking.as_dict())


@router.post(
    "/best_of_n", response_model=BestOfNResponse, response_model_exclude_none=True, summary="Pick the best of N"
)
async def best_of_n(body: BestOfNRequest, request: Request) -> BestOfNResponse:
    """Score a whole group of candidates in one call and return the best, the order and the scores."""
    _within_limits(request, body)
    pick = await _service(request).best_of_n(
        body.candidates, objective=body.objective, method=body.method, **body.context()
    )
    return BestOfNResponse(best_candidate=body.candidates[pick.best], **pick.as_dict())


@router.get("/health", summary="200 while serving, 503 otherwise")
@router.head("/health", include_in_schema=False)
async def health(request: Request) -> JSONResponse:
    service = _service(request)
    if request.app.state.drain:
        return JSONResponse({"status": "draining", "reason": "the server is shutting down"}, status_code=503)
    if service.healthy:
        return JSONResponse({"status": "ok"})
    return JSONResponse({"status": "unhealthy", "reason": service.death_reason}, status_code=503)


@router.get("/info", summary="Model facts")
@router.head("/info", include_in_schema=False)
async def info(request: Request) -> dict:
    return {"rewardkit_version": __version__, **_service(request).info()}


@router.get("/metrics", summary="Prometheus metrics")
@router.head("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4")
