"""Several reward models as one: every member scores the same inputs, `selection.ensemble` combines.

`Ensemble` runs in-process over `RewardModel`s (notebooks, evaluation, Best-of-N pools);
`EnsembleService` is its async twin for the server, over local `RewardService`s and remote servers
(`RemoteMember`). Both share the combining step below. Knows nothing about HTTP routes or torch.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx
import numpy as np

from rewardkit.config import EnsembleConfig
from rewardkit.errors import InvalidInputError, MemberFailedError, ServerResponseError, TooManyItemsError
from rewardkit.groups import AsyncGroups, SyncGroups
from rewardkit.selection.ensemble import Standardization, combine
from rewardkit.types import Conversation, ScoreResult

if TYPE_CHECKING:
    from rewardkit.model import RewardModel

__all__ = [
    "AsyncMember",
    "Ensemble",
    "EnsembleService",
    "RemoteMember",
    "gather_or_cancel",
    "member_names",
    "read_reference",
]


class AsyncMember(Protocol):
    """What EnsembleService needs of a member: RewardService and RemoteMember both fit."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    @property
    def healthy(self) -> bool: ...
    def info(self) -> dict[str, Any]: ...
    async def score_texts(self, texts: Sequence[str], *, objective: str | None = None) -> list[ScoreResult]: ...
    async def score_conversations(
        self, conversations: Sequence[Conversation], *, objective: str | None = None
    ) -> list[ScoreResult]: ...


REFERENCE_CHUNK = 256


async def gather_or_cancel(*coroutines: Any) -> list[Any]:
    """Run together; if one fails, cancel the rest (so a failed member does not leave the others
    spending the device on an answer nobody will read) and raise the first error."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def member_names(sources: Sequence[str]) -> list[str]:
    """Readable, unique member names: a folder's name or a URL, suffixed when two collide."""
    names: list[str] = []
    for source in sources:
        base = source.rstrip("/") if "://" in source else (Path(source).name or source)
        name, k = base, 2
        while name in names:
            name, k = f"{base}#{k}", k + 1
        names.append(name)
    return names


def read_reference(path: str | Path) -> tuple[list[str], list[Conversation]]:
    """The standardization reference set: rows of ``text``/``query`` (full texts) or ``messages``."""
    from rewardkit.data.files import read_rows
    from rewardkit.data.rows import row_input

    texts: list[str] = []
    conversations: list[Conversation] = []
    for row in read_rows(Path(path)):
        value = row_input(row, f"{path}:{row['__line__']}")
        if isinstance(value, str):
            texts.append(value)
        else:
            conversations.append(value)
    if len(texts) + len(conversations) < 2:
        raise InvalidInputError(f"{path}: the standardization reference set needs at least two rows")
    return texts, conversations


def combine_results(
    names: Sequence[str],
    per_member: Sequence[Sequence[ScoreResult]],
    config: EnsembleConfig,
    standardization: Standardization | None,
) -> list[ScoreResult]:
    """One ScoreResult per item: the combined reward, with each member's own reward attached."""
    if len({len(results) for results in per_member}) > 1:
        raise MemberFailedError(
            f"ensemble members returned different numbers of scores: {[len(r) for r in per_member]}"
        )
    matrix = np.asarray([[r.score for r in results] for results in per_member], dtype=np.float64)
    try:
        combined = combine(matrix, config.ensemble, uwo_lambda=config.uwo_lambda, standardization=standardization)
    except ValueError as exc:
        raise InvalidInputError(f"cannot combine ensemble scores: {exc}") from None
    return [
        ScoreResult(
            score=float(combined[i]),
            num_tokens=max(results[i].num_tokens for results in per_member),
            truncated=any(results[i].truncated for results in per_member),
            members={name: float(matrix[m, i]) for m, name in enumerate(names)},
        )
        for i in range(matrix.shape[1])
    ]


def _check_members(names: Sequence[str], members: Sequence[Any], config: EnsembleConfig) -> None:
    if not members:
        raise InvalidInputError("an ensemble needs at least one member")
    if len(names) != len(members):
        raise InvalidInputError(f"{len(members)} ensemble members but {len(names)} names")
    if config.uwo_lambda < 0 or not np.isfinite(config.uwo_lambda):
        raise InvalidInputError(f"--uwo-lambda must be a finite number >= 0, got {config.uwo_lambda}")
    for name, member in zip(names, members):
        if getattr(member, "pairwise", None) is not None:
            raise InvalidInputError(f"ensemble member {name} is a pairwise preference model; members need rewards")


def _fit(per_member: list[list[float]], source: str | Path) -> Standardization:
    try:
        return Standardization.fit(per_member)
    except ValueError as exc:
        raise InvalidInputError(f"cannot standardize on {source}: {exc}") from None


def _reference_scores_sync(member: RewardModel, texts: list[str], conversations: list[Conversation]) -> list[float]:
    return (member.score(texts) if texts else []) + (member.score_messages(conversations) if conversations else [])


def _ensemble_info(names: Sequence[str], config: EnsembleConfig, stats: Standardization | None) -> dict[str, Any]:
    return {
        "method": config.ensemble,
        "uwo_lambda": config.uwo_lambda if config.ensemble == "uwo" else None,
        "standardize": config.standardize,
        "standardization": None if stats is None else dict(zip(("mean", "std"), (stats.mean, stats.std))),
        "members": list(names),
    }


class Ensemble(SyncGroups):
    """In-process ensemble over RewardModels with RewardModel's scoring methods."""

    pairwise = None

    def __init__(
        self, members: Sequence[RewardModel], names: Sequence[str] | None = None, config: EnsembleConfig | None = None
    ) -> None:
        self.config = config or EnsembleConfig()
        self.members = list(members)
        self.names = list(names) if names is not None else [f"member{i}" for i in range(len(self.members))]
        _check_members(self.names, self.members, self.config)
        self.standardization: Standardization | None = None
        if self.config.standardize:
            texts, conversations = read_reference(self.config.standardize)
            scores = [_reference_scores_sync(member, texts, conversations) for member in self.members]
            self.standardization = _fit(scores, self.config.standardize)

    def score_results(
        self,
        texts: Sequence[str] | None = None,
        *,
        conversations: Sequence[Conversation] | None = None,
        objective: str | None = None,
        progress: bool = False,
    ) -> list[ScoreResult]:
        per_member = [
            member.score_results(texts, conversations=conversations, objective=objective, progress=progress)
            for member in self.members
        ]
        return combine_results(self.names, per_member, self.config, self.standardization)

    def score(self, texts: Sequence[str], *, progress: bool = False) -> list[float]:
        return [r.score for r in self.score_results(texts, progress=progress)]

    def score_messages(self, conversations: Sequence[Conversation], *, progress: bool = False) -> list[float]:
        return [r.score for r in self.score_results(conversations=conversations, progress=progress)]

    def info(self) -> dict[str, Any]:
        return {"ensemble": _ensemble_info(self.names, self.config, self.standardization)}


class RemoteMember:
    """A member served by another server speaking /get_reward and /score (rewardkit or OpenRLHF).

    Its key is ``api_key`` or $REWARDKIT_MEMBER_API_KEY, never this server's own inbound key."""

    def __init__(self, url: str, *, api_key: str | None = None, timeout: float = 300.0) -> None:
        import os

        from rewardkit.client import AsyncClient

        self.url = url
        self._failure: str | None = None
        key = api_key or os.environ.get("REWARDKIT_MEMBER_API_KEY") or None
        self._client = AsyncClient(url, api_key=key, timeout=timeout)

    async def start(self) -> None:
        if not await self._client.health():
            raise MemberFailedError(f"ensemble member {self.url} is not answering /health with 200")

    async def stop(self) -> None:
        await self._client.aclose()

    @property
    def healthy(self) -> bool:
        """False after a request found it failing or unreachable, until one succeeds again."""
        return self._failure is None

    @property
    def death_reason(self) -> str | None:
        return self._failure

    def info(self) -> dict[str, Any]:
        return {"url": self.url}

    async def score_texts(self, texts: Sequence[str], *, objective: str | None = None) -> list[ScoreResult]:
        if objective is not None:
            raise InvalidInputError(f"ensemble member {self.url} is remote; pick its objective on that server")
        body = await self._call(self._client.get_reward(list(texts)))
        rewards = self._checked(body, "rewards", len(texts))
        logs = body.get("extra_logs") if isinstance(body.get("extra_logs"), dict) else {}
        tokens = logs.get("num_tokens") if len(logs.get("num_tokens") or ()) == len(texts) else [0] * len(texts)
        truncated = logs.get("truncated") if len(logs.get("truncated") or ()) == len(texts) else [0] * len(texts)
        return [
            ScoreResult(score=s, num_tokens=int(n), truncated=bool(t)) for s, n, t in zip(rewards, tokens, truncated)
        ]

    async def score_conversations(
        self, conversations: Sequence[Conversation], *, objective: str | None = None
    ) -> list[ScoreResult]:
        body = await self._call(self._client.score_conversations(list(conversations), objective=objective))
        scores = self._checked(body, "scores", len(conversations))
        tokens = body.get("num_tokens") if len(body.get("num_tokens") or ()) == len(scores) else [0] * len(scores)
        truncated = body.get("truncated") if len(body.get("truncated") or ()) == len(scores) else [0] * len(scores)
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
        self._failure = f"ensemble member {self.url} {why}"
        return MemberFailedError(self._failure)

    async def _call(self, request: Any) -> Any:
        try:
            body = await request
        except ServerResponseError as exc:
            if exc.status_code == 413:
                raise TooManyItemsError(f"ensemble member {self.url}: {exc}") from exc
            if exc.status_code in (400, 404, 422):
                raise InvalidInputError(f"ensemble member {self.url} refused the input: {exc}") from exc
            raise self._failed(f"failed: {exc}") from exc  # 401/403 (its key), 429 and 5xx
        except (httpx.HTTPError, ValueError) as exc:
            raise self._failed(f"is unreachable or answered garbage: {exc}") from exc
        self._failure = None
        return body


class EnsembleService(AsyncGroups):
    """The server's view of an ensemble: RewardService's scoring methods over async members."""

    pairwise = None

    def __init__(
        self, members: Sequence[AsyncMember], names: Sequence[str], config: EnsembleConfig | None = None
    ) -> None:
        self.config = config or EnsembleConfig()
        self.members = list(members)
        self.names = list(names)
        _check_members(self.names, self.members, self.config)
        self.standardization: Standardization | None = None

    async def start(self) -> None:
        """Start every member and fit the standardization; on any failure, stop them all again."""
        try:
            await gather_or_cancel(*(member.start() for member in self.members))
            if self.config.standardize and self.standardization is None:
                texts, conversations = read_reference(self.config.standardize)
                scores = await gather_or_cancel(
                    *(self._reference_scores(m, texts, conversations) for m in self.members)
                )
                self.standardization = _fit(list(scores), self.config.standardize)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        await asyncio.gather(*(member.stop() for member in self.members), return_exceptions=True)

    @property
    def healthy(self) -> bool:
        return all(member.healthy for member in self.members)

    @property
    def death_reason(self) -> str | None:
        for name, member in zip(self.names, self.members):
            if not member.healthy:
                return f"member {name}: {getattr(member, 'death_reason', None) or 'not serving'}"
        return None

    async def score_texts(self, texts: Sequence[str], *, objective: str | None = None) -> list[ScoreResult]:
        per_member = await gather_or_cancel(*(m.score_texts(texts, objective=objective) for m in self.members))
        return combine_results(self.names, per_member, self.config, self.standardization)

    async def score_conversations(
        self, conversations: Sequence[Conversation], *, objective: str | None = None
    ) -> list[ScoreResult]:
        per_member = await gather_or_cancel(
            *(m.score_conversations(conversations, objective=objective) for m in self.members)
        )
        return combine_results(self.names, per_member, self.config, self.standardization)

    def info(self) -> dict[str, Any]:
        return {
            "format": "ensemble",
            "ensemble": _ensemble_info(self.names, self.config, self.standardization),
            "members": {name: member.info() for name, member in zip(self.names, self.members)},
        }

    @staticmethod
    async def _reference_scores(
        member: AsyncMember, texts: list[str], conversations: list[Conversation]
    ) -> list[float]:
        """In chunks, so a large reference set never exceeds a member's queue or request size."""
        scores: list[float] = []
        for start in range(0, len(texts), REFERENCE_CHUNK):
            scores += [r.score for r in await member.score_texts(texts[start : start + REFERENCE_CHUNK])]
        for start in range(0, len(conversations), REFERENCE_CHUNK):
            chunk = conversations[start : start + REFERENCE_CHUNK]
            scores += [r.score for r in await member.score_conversations(chunk)]
        return scores
