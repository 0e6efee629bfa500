"""Several reward models as one: every member answers the same step, `selection.ensemble` combines.

`Ensemble` is the synchronous front end over in-process members (RewardModels); `EnsembleService`
the asynchronous one over RewardServices and RemoteMembers (other servers), run concurrently. Both
answer a step the same way (`EnsembleCombiner`): the members' results, combined, with each
member's own reward attached; every other method comes from the shared front. Knows no HTTP and
no torch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardkit.config import EnsembleConfig
from rewardkit.data.files import read_rows
from rewardkit.data.rows import row_input
from rewardkit.errors import InvalidInputError, MemberFailedError
from rewardkit.scoring import plans
from rewardkit.scoring.front import AsyncFront, SyncFront
from rewardkit.scoring.protocols import ScoringService
from rewardkit.scoring.steps import ComparePairs, Step
from rewardkit.selection.ensemble import Standardization, combine
from rewardkit.types import Conversation, ScoreResult

__all__ = ["Ensemble", "EnsembleService", "gather_or_cancel", "member_names", "read_reference"]


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


class EnsembleCombiner:
    """What both ensemble front ends share: members, names, settings, the fitted standardization,
    and turning the members' answers to one step into the ensemble's answer."""

    pairwise = None

    def __init__(self, members: Sequence[Any], names: Sequence[str] | None, config: EnsembleConfig | None) -> None:
        self.config = config or EnsembleConfig()
        self.members = list(members)
        self.names = list(names) if names is not None else [f"member{i}" for i in range(len(self.members))]
        if not self.members:
            raise InvalidInputError("an ensemble needs at least one member")
        if len(self.names) != len(self.members):
            raise InvalidInputError(f"{len(self.members)} ensemble members but {len(self.names)} names")
        if self.config.uwo_lambda < 0 or not np.isfinite(self.config.uwo_lambda):
            raise InvalidInputError(f"--uwo-lambda must be a finite number >= 0, got {self.config.uwo_lambda}")
        for name, member in zip(self.names, self.members):
            if getattr(member, "pairwise", None) is not None:
                raise InvalidInputError(f"ensemble member {name} is a pairwise preference model; members need rewards")
        self.standardization: Standardization | None = None

    def _reference(self) -> tuple[list[str], list[Conversation]] | None:
        """The reference set to standardize on, if one is configured and not fitted yet."""
        if not self.config.standardize or self.standardization is not None:
            return None
        return read_reference(self.config.standardize)

    def _fit(self, per_member: Sequence[list[float]]) -> None:
        try:
            self.standardization = Standardization.fit(list(per_member))
        except ValueError as exc:
            raise InvalidInputError(f"cannot standardize on {self.config.standardize}: {exc}") from None

    def _combine(self, step: Step, per_member: Sequence[Sequence[ScoreResult]]) -> list[ScoreResult]:
        """One ScoreResult per item: the combined reward, with each member's own reward attached."""
        if isinstance(step, ComparePairs):
            raise InvalidInputError("an ensemble of reward models compares responses by their rewards")
        if len({len(results) for results in per_member}) > 1:
            raise MemberFailedError(
                f"ensemble members returned different numbers of scores: {[len(r) for r in per_member]}"
            )
        matrix = np.asarray([[r.score for r in results] for results in per_member], dtype=np.float64)
        try:
            combined = combine(
                matrix, self.config.ensemble, uwo_lambda=self.config.uwo_lambda, standardization=self.standardization
            )
        except ValueError as exc:
            raise InvalidInputError(f"cannot combine ensemble scores: {exc}") from None
        return [
            ScoreResult(
                score=float(combined[i]),
                num_tokens=max(results[i].num_tokens for results in per_member),
                truncated=any(results[i].truncated for results in per_member),
                members={name: float(matrix[m, i]) for m, name in enumerate(self.names)},
            )
            for i in range(matrix.shape[1])
        ]

    def _ensemble_info(self) -> dict[str, Any]:
        stats = self.standardization
        return {
            "method": self.config.ensemble,
            "uwo_lambda": self.config.uwo_lambda if self.config.ensemble == "uwo" else None,
            "standardize": self.config.standardize,
            "standardization": None if stats is None else dict(zip(("mean", "std"), (stats.mean, stats.std))),
            "members": list(self.names),
        }


class Ensemble(EnsembleCombiner, SyncFront):
    """In-process ensemble over RewardModels, with RewardModel's scoring methods."""

    def __init__(
        self, members: Sequence[SyncFront], names: Sequence[str] | None = None, config: EnsembleConfig | None = None
    ) -> None:
        super().__init__(members, names, config)
        reference = self._reference()
        if reference is not None:
            self._fit([member.run(plans.reference_plan(*reference)) for member in self.members])

    def execute(self, step: Step, progress: bool = False) -> list[ScoreResult]:
        return self._combine(step, [member.execute(step, progress) for member in self.members])

    def info(self) -> dict[str, Any]:
        return {"ensemble": self._ensemble_info()}


class EnsembleService(EnsembleCombiner, AsyncFront):
    """The server's view of an ensemble: RewardService's methods over async members, run concurrently."""

    def __init__(
        self, members: Sequence[ScoringService], names: Sequence[str], config: EnsembleConfig | None = None
    ) -> None:
        super().__init__(members, names, config)
        self.services = list(members)

    async def start(self) -> None:
        """Start every member and fit the standardization; on any failure, stop them all again."""
        try:
            await gather_or_cancel(*(member.start() for member in self.services))
            reference = self._reference()
            if reference is not None:
                self._fit(await gather_or_cancel(*(m.run(plans.reference_plan(*reference)) for m in self.services)))
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        await asyncio.gather(*(member.stop() for member in self.services), return_exceptions=True)

    @property
    def healthy(self) -> bool:
        return all(member.healthy for member in self.services)

    def saturated(self) -> float | None:
        """The longest wait of any member that can take nothing more (every member scores every step)."""
        waits = [w for w in (member.saturated() for member in self.services) if w is not None]
        return max(waits, default=None)

    @property
    def death_reason(self) -> str | None:
        for name, member in zip(self.names, self.services):
            if not member.healthy:
                return f"member {name}: {getattr(member, 'death_reason', None) or 'not serving'}"
        return None

    @property
    def broken(self) -> str | None:
        """A local member's fatal engine error: every step needs every member, so the ensemble is broken
        too (a remote member that is down is not: it may come back)."""
        for name, member in zip(self.names, self.services):
            if (reason := member.broken) is not None:
                return f"member {name}: {reason}"
        return None

    async def execute(self, step: Step, progress: bool = False) -> list[ScoreResult]:
        return self._combine(step, await gather_or_cancel(*(member.execute(step) for member in self.services)))

    def info(self) -> dict[str, Any]:
        return {
            "format": "ensemble",
            "ensemble": self._ensemble_info(),
            "members": {name: member.info() for name, member in zip(self.names, self.services)},
        }
