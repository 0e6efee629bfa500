"""Endpoints. Each is a schema in, a service call, a schema out; errors go to server/errors.py."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from rewardkit import __version__
from rewardkit.server.schemas import (
    GetRewardRequest,
    GetRewardResponse,
    ScoreBatchResponse,
    ScoreRequest,
    ScoreResponse,
)
from rewardkit.service import RewardService
from rewardkit.types import ScoreResult

__all__ = ["router"]

router = APIRouter()


def _service(request: Request) -> RewardService:
    return request.app.state.service


def _count_truncated(request: Request, results: list[ScoreResult]) -> None:
    n = sum(r.truncated for r in results)
    if n:
        request.app.state.metrics.truncated.inc(n)


@router.post("/get_reward", response_model=GetRewardResponse, summary="OpenRLHF remote reward")
async def get_reward(body: GetRewardRequest, request: Request) -> GetRewardResponse:
    """Score full texts as OpenRLHF sends them; ``rewards`` and ``scores`` carry the same values."""
    results = await _service(request).score_texts(body.query)
    _count_truncated(request, results)
    rewards = [r.score for r in results]
    extra_logs: dict[str, list[float]] = {
        "truncated": [float(r.truncated) for r in results],
        "num_tokens": [float(r.num_tokens) for r in results],
    }
    for name in results[0].extras:
        extra_logs[name] = [r.extras[name] for r in results]
    return GetRewardResponse(rewards=rewards, scores=rewards, extra_logs=extra_logs)


@router.post("/score", response_model=ScoreResponse | ScoreBatchResponse, summary="Score conversations")
async def score(body: ScoreRequest, request: Request) -> ScoreResponse | ScoreBatchResponse:
    """Apply the model's chat template server-side and score one conversation or a batch."""
    results = await _service(request).score_conversations(body.as_conversations())
    _count_truncated(request, results)
    if body.messages is not None:
        r = results[0]
        return ScoreResponse(score=r.score, num_tokens=r.num_tokens, truncated=r.truncated)
    return ScoreBatchResponse(
        scores=[r.score for r in results],
        num_tokens=[r.num_tokens for r in results],
        truncated=[r.truncated for r in results],
    )


@router.get("/health", summary="200 while serving, 503 otherwise")
async def health(request: Request) -> JSONResponse:
    service = _service(request)
    if service.healthy:
        return JSONResponse({"status": "ok"})
    reason = service.engine.death_reason or "the engine is not running"
    return JSONResponse({"status": "unhealthy", "reason": reason}, status_code=503)


@router.get("/info", summary="Model facts")
async def info(request: Request) -> dict:
    return {"rewardkit_version": __version__, **_service(request).info()}


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4")
