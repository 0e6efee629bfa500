"""What a served scorer must offer: the `ScoringService` protocol the HTTP routes and the ensemble
service are typed against. RewardService, EnsembleService and RemoteMember fit it."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

from rewardkit.plan import Plan
from rewardkit.scoring.pairwise import Comparison
from rewardkit.scoring.steps import Step
from rewardkit.selection.best_of_n import BestOfN
from rewardkit.selection.ranking import Ranking
from rewardkit.types import Conversation, ScoreResult

__all__ = ["ScoringService"]

Texts = Sequence[str]


class ScoringService(Protocol):
    """An asynchronous front end with a lifecycle (`scoring/front.py` gives the scoring methods)."""

    pairwise: Any

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    @property
    def healthy(self) -> bool: ...
    @property
    def death_reason(self) -> str | None: ...
    @property
    def broken(self) -> str | None:
        """Why this service can never serve again (its engine died of a fatal error: the process must be
        replaced), else None. Not serving for a while (stopping, a member down) is not broken."""
        ...

    def saturated(self) -> float | None:
        """Seconds to wait (Retry-After) while no more work can be taken at all, else None: a server
        refuses at once, without reading the request."""
        ...

    def info(self) -> dict[str, Any]: ...
    async def execute(self, step: Step, progress: bool = False) -> Any: ...
    async def run(self, plan: Plan[Any], *, progress: bool = False) -> Any: ...
    def score(
        self, inputs: Texts | Sequence[Conversation], *, objective: str | None = None, progress: bool = False
    ) -> Awaitable[list[float]]: ...
    def score_results(
        self, inputs: Texts | Sequence[Conversation], *, objective: str | None = None, progress: bool = False
    ) -> Awaitable[list[ScoreResult]]: ...
    def compare(
        self, responses: Texts, *, prompt: str | None = ..., messages: Conversation | None = ...
    ) -> Awaitable[Comparison]: ...
    def rank(self, responses: Texts, **context: Any) -> Awaitable[Ranking]: ...
    def best_of_n(self, candidates: Texts, **context: Any) -> Awaitable[BestOfN]: ...
