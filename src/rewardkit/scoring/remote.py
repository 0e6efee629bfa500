"""RemoteMember: another server (rewardkit, or OpenRLHF's /get_reward) as an ensemble member.

An asynchronous front end whose steps are answered over HTTP: full texts by POST /get_reward,
conversations by POST /score. A member contributes its model's own reward: where the member serves
reward functions too (--reward-fn), its combined reward is not what the ensemble averages. What
comes back is checked (count, numbers, finiteness). Whether the member is up comes from probing
its GET /health in the background (MemberHealth), never from how a scoring call went: a failed call
fails that request (502; a busy member's 503 is passed on as 503 with its Retry-After) and leaves
health to the probe, which recovers by itself once the member is back. Its key is ``api_key`` or
$REWARDKIT_MEMBER_API_KEY, never this server's own inbound key.
"""

from __future__ import annotations

import math
import os
from typing import Any

import httpx

from rewardkit.client import AsyncClient
from rewardkit.errors import (
    InvalidInputError,
    MemberFailedError,
    QueueFullError,
    ServerResponseError,
    TooManyItemsError,
)
from rewardkit.scoring.front import AsyncFront
from rewardkit.scoring.member_health import MemberHealth
from rewardkit.scoring.steps import ScoreConversations, ScoreTexts, Step
from rewardkit.types import ScoreResult

__all__ = ["RemoteMember"]


class RemoteMember(AsyncFront):
    def __init__(
        self, url: str, *, api_key: str | None = None, timeout: float = 300.0, health: MemberHealth | None = None
    ) -> None:
        self.url = url
        key = api_key or os.environ.get("REWARDKIT_MEMBER_API_KEY") or None
        self._client = AsyncClient(url, api_key=key, timeout=timeout)
        self.health = health or MemberHealth(url)

    async def start(self) -> None:
        """Refuse a member that is down now; then keep probing its /health in the background."""
        failure = await self.health.probe()
        if failure is not None:
            raise MemberFailedError(f"ensemble member {self.url} is not answering /health with 200 ({failure})")
        self.health.start()

    async def stop(self) -> None:
        await self.health.stop()
        await self._client.aclose()

    def saturated(self) -> float | None:
        """Unknown until asked: the member's own server refuses when it is full (a 503 passed on)."""
        return None

    @property
    def healthy(self) -> bool:
        """Whether the member's own /health answered 200 at the last probe."""
        return self.health.failure is None

    @property
    def death_reason(self) -> str | None:
        failure = self.health.failure
        return None if failure is None else f"ensemble member {self.url} is down: {failure}"

    @property
    def broken(self) -> str | None:
        """Never: a member that is down may come back (its own server is what gets replaced)."""
        return None

    def info(self) -> dict[str, Any]:
        return {"url": self.url}

    async def execute(self, step: Step, progress: bool = False) -> list[ScoreResult]:
        if isinstance(step, ScoreTexts):
            if step.objective is not None:
                raise InvalidInputError(f"ensemble member {self.url} is remote; pick its objective on that server")
            texts = step.texts
            body = await self._call(self._client.get_reward(texts))
            key = "model_rewards" if isinstance(body, dict) and "model_rewards" in body else "rewards"
            rewards = self._checked(body, key, len(texts))
            return self._results(rewards, body.get("extra_logs") if isinstance(body.get("extra_logs"), dict) else {})
        if isinstance(step, ScoreConversations):
            conversations = step.conversations
            request = {"conversations": [list(c) for c in conversations]}
            if step.objective is not None:
                request["objective"] = step.objective
            body = await self._call(self._client.request("POST", "/score", request))
            key = "model_scores" if isinstance(body, dict) and "model_scores" in body else "scores"
            return self._results(self._checked(body, key, len(conversations)), body)
        raise InvalidInputError(f"ensemble member {self.url} scores texts and conversations only")

    @staticmethod
    def _results(scores: list[float], facts: dict[str, Any]) -> list[ScoreResult]:
        """ScoreResults with the token counts and truncation flags the member reported, where it did."""
        count = len(scores)
        tokens = facts.get("num_tokens") if len(facts.get("num_tokens") or ()) == count else [0] * count
        truncated = facts.get("truncated") if len(facts.get("truncated") or ()) == count else [0] * count
        return [
            ScoreResult(score=s, num_tokens=int(n), truncated=bool(t)) for s, n, t in zip(scores, tokens, truncated)
        ]

    def _checked(self, body: Any, key: str, count: int) -> list[float]:
        values = body.get(key) if isinstance(body, dict) else None
        if not isinstance(values, list) or len(values) != count:
            raise self._failed(f"answered without {count} '{key}' (got {str(body)[:200]})")
        try:
            floats = [float(v) for v in values]
        except (TypeError, ValueError):
            raise self._failed(f"answered non-numeric '{key}'") from None
        if not all(math.isfinite(v) for v in floats):
            raise self._failed(f"answered NaN or infinite '{key}'")
        return floats

    def _failed(self, why: str) -> MemberFailedError:
        return MemberFailedError(f"ensemble member {self.url} {why}")

    async def _call(self, request: Any) -> Any:
        """The member's answer, after the client's retries; its errors as this server's: the caller's
        input refused (4xx), busy (503 + Retry-After), or failed (502). None of them decides health."""
        try:
            return await request
        except ServerResponseError as exc:
            if exc.status_code == 413:
                raise TooManyItemsError(f"ensemble member {self.url}: {exc}") from exc
            if exc.status_code in (400, 404, 422):
                raise InvalidInputError(f"ensemble member {self.url} refused the input: {exc}") from exc
            if exc.status_code >= 500:
                self.health.probe_soon()  # a 503 may also mean it is stopping: the probe will tell
            if exc.status_code in (429, 503):
                raise QueueFullError(
                    f"ensemble member {self.url} is busy or not serving: {exc}", retry_after=exc.retry_after or 1.0
                ) from exc
            raise self._failed(f"failed: {exc}") from exc  # 401/403 (its key) and other 5xx
        except httpx.TransportError as exc:
            self.health.probe_soon()
            raise self._failed(f"is unreachable: {exc}") from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise self._failed(f"answered garbage: {exc}") from exc
