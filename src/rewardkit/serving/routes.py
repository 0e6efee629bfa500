"""Endpoints. Each is a schema in, a call on the ScoringService, a schema out; errors go to
serving/errors.py. Knows no torch and no concrete scorer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse

from rewardkit._version import __version__
from rewardkit.serving import tei_api, vllm_api
from rewardkit.serving.common import count_truncated, service_of, within_limits
from rewardkit.serving.dialects import read_body
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

__all__ = ["router"]

router = APIRouter(route_class=JSONRoute)


@router.post(
    "/get_reward", response_model=GetRewardResponse, response_model_exclude_none=True, summary="OpenRLHF remote reward"
)
async def get_reward(body: GetRewardRequest, request: Request) -> GetRewardResponse:
    """Score full texts as OpenRLHF sends them; ``rewards`` and ``scores`` carry the same values. With
    reward functions served beside the model, both are the weighted sum of the parts, each logged."""
    within_limits(request, body.item_sizes())
    if not body.count:  # OpenRLHF with several URLs sends the extra servers empty shards
        return GetRewardResponse(rewards=[], scores=[], extra_logs={})
    rewards, extra_logs, results = await request.app.state.rewards.reward(
        service_of(request), body.query, body.prompts, body.labels, body.objective, body.as_conversations()
    )
    count_truncated(request, results)
    steps = [list(r.steps or ()) for r in results] if results and results[0].steps is not None else None
    model = [r.score for r in results] if results and request.app.state.rewards.combining else None
    return GetRewardResponse(
        rewards=rewards, scores=rewards, extra_logs=extra_logs, step_scores=steps, model_rewards=model
    )


@router.post(
    "/score",
    response_model=ScoreResponse | ScoreBatchResponse,
    response_model_exclude_none=True,
    summary="Score conversations (or vLLM's /score)",
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": ScoreRequest.model_json_schema()}},
            "description": "rewardkit's body ('messages' or 'conversations'); a body with vLLM's fields "
            "('queries'/'documents', 'text_1'/'text_2', ...) is answered as vLLM's /score (see /v1/score).",
        }
    },
)
async def score(request: Request, raw: Any = Body(...)) -> Any:
    """Score one conversation, a batch of them (the model's chat template applied here) or full texts.
    The reward is the one /get_reward gives for the same input: with reward functions served, the
    weighted sum, with the model's own reward and each function's beside it."""
    if vllm_api.is_vllm_score(raw) and not ("messages" in raw or "conversations" in raw):
        return await vllm_api.score(request, raw)
    body = read_body(ScoreRequest, raw)
    within_limits(request, body.item_sizes())
    if not body.count:
        return ScoreBatchResponse(scores=[], num_tokens=[], truncated=[])
    parts = request.app.state.rewards
    conversations = body.as_conversations()
    rewards, logs, results = await parts.reward(
        service_of(request), body.texts, None, body.labels, body.objective, conversations, need_model=True
    )
    count_truncated(request, results)
    multi, stepped, ensemble = bool(results[0].objectives), results[0].steps is not None, bool(results[0].members)
    rules = {name: logs[name] for name in parts.rule_names} if parts.combining else None
    if body.messages is not None:
        r = results[0]
        return ScoreResponse(
            score=rewards[0],
            num_tokens=r.num_tokens,
            truncated=r.truncated,
            objectives=r.objectives if multi else None,
            steps=list(r.steps or ()) if stepped else None,
            members=r.members if ensemble else None,
            model_score=r.score if rules is not None else None,
            rule_scores={name: values[0] for name, values in rules.items()} if rules is not None else None,
        )
    return ScoreBatchResponse(
        scores=rewards,
        num_tokens=[r.num_tokens for r in results],
        truncated=[r.truncated for r in results],
        objectives=[r.objectives for r in results] if multi else None,
        steps=[list(r.steps or ()) for r in results] if stepped else None,
        members=[r.members for r in results] if ensemble else None,
        model_scores=[r.score for r in results] if rules is not None else None,
        rule_scores=rules,
    )


@router.post(
    "/compare", response_model=CompareResponse, response_model_exclude_none=True, summary="Which of two is better"
)
async def compare(body: CompareRequest, request: Request) -> CompareResponse:
    """P(responses[0] better): a pairwise model averaged over both orders, or sigmoid of the reward gap."""
    within_limits(request, body.item_sizes())
    result = await service_of(request).compare(body.responses, **body.context())
    return CompareResponse(**result.as_dict())


@router.post("/rank", response_model=RankResponse, summary="Rank candidates (Best-of-N)")
async def rank(body: RankRequest, request: Request) -> RankResponse:
    """Best first: by reward, or by a knockout / round-robin tournament for pairwise models."""
    within_limits(request, body.item_sizes())
    ranking = await service_of(request).rank(
        body.candidates, objective=body.objective, method=body.method, **body.context()
    )
    return RankResponse(**ranking.as_dict())


@router.post(
    "/best_of_n", response_model=BestOfNResponse, response_model_exclude_none=True, summary="Pick the best of N"
)
async def best_of_n(body: BestOfNRequest, request: Request) -> BestOfNResponse:
    """Score a whole group of candidates in one call and return the best, the order and the scores."""
    within_limits(request, body.item_sizes())
    pick = await service_of(request).best_of_n(
        body.candidates, objective=body.objective, method=body.method, **body.context()
    )
    return BestOfNResponse(best_candidate=body.candidates[pick.best], **pick.as_dict())


@router.post("/rerank", summary="Rerank: vLLM's body (query, documents) or TEI's (query, texts)")
async def rerank(request: Request, raw: dict[str, Any] = Body(...)) -> JSONResponse:
    """Candidates ranked by reward as answers to the query, best first, in the shape of the client
    that asked: TEI's when the body has 'texts', else vLLM's."""
    if "texts" in raw and "documents" not in raw:
        return await tei_api.rerank(request, raw)
    return await vllm_api.rerank(request, raw)


@router.get("/health", summary="200 while serving, 503 otherwise")
@router.head("/health", include_in_schema=False)
async def health(request: Request) -> JSONResponse:
    """503 while draining, while the model (or an ensemble member) is not serving, or while no
    reward-function worker can run; the reason says which."""
    service = service_of(request)
    if request.app.state.drain:
        return JSONResponse({"status": "draining", "reason": "the server is shutting down"}, status_code=503)
    if not service.healthy:
        return JSONResponse({"status": "unhealthy", "reason": service.death_reason}, status_code=503)
    if (rules := request.app.state.rewards.unavailable) is not None:
        return JSONResponse({"status": "unhealthy", "reason": rules}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/info", summary="Model facts")
@router.head("/info", include_in_schema=False)
async def info(request: Request) -> dict:
    state = request.app.state
    return {
        "rewardkit_version": __version__,
        "served_model_name": state.model_name,
        **service_of(request).info(),
        "reward_functions": state.rewards.info(),
    }


@router.get("/metrics", summary="Prometheus metrics")
@router.head("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4")


@router.get("/metrics/summary", summary="Metrics as JSON (the /ui dashboard reads it)")
async def metrics_summary(request: Request) -> dict:
    """The Prometheus counters as JSON, cumulative since the start; scoring traffic is the app's POST
    routes, so polling this or /info does not count as load."""
    routers = (router, vllm_api.router, tei_api.router)
    scoring = {route.path for each in routers for route in each.routes if "POST" in getattr(route, "methods", ())}
    return request.app.state.metrics.summary(scoring)
