"""The scoring methods every front end offers, each written once as "drive this plan".

A front end is a `Front` plus a driver: `SyncFront` answers each step with a direct call and
returns the result; `AsyncFront` answers with an awaited call, so the same methods return an
awaitable (``await service.best_of_n(...)``). The concrete front ends only say how one step is
answered (`execute`): RewardModel through the runner, RewardService through the engine, the
ensembles through their members, RemoteMember through another server.

Knows plans and steps; knows nothing about models, engines or HTTP.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from rewardkit.plan import Plan, drive, drive_async
from rewardkit.scoring import plans
from rewardkit.scoring.pairwise import PairQuestion
from rewardkit.scoring.steps import Step, score_step
from rewardkit.types import Conversation

__all__ = ["AsyncFront", "Front", "SyncFront"]


class Front(ABC):
    """Scoring methods over `run`. On a SyncFront each returns its value; on an AsyncFront, an
    awaitable of it. ``pairwise`` is the pair prompter of a pairwise preference model (else None);
    ``max_sequences`` the most sequences one step may carry (None: no limit)."""

    pairwise: Any = None
    max_sequences: int | None = None

    @abstractmethod
    def run(self, plan: Plan[Any], *, progress: bool = False) -> Any:
        """Drive ``plan`` with this front's `execute` (the driver classes below)."""

    def score(
        self, inputs: Sequence[str] | Sequence[Conversation], *, objective: str | None = None, progress: bool = False
    ) -> Any:
        """Rewards (floats), in input order, for full texts (chat template already applied) or
        conversations ending with the assistant response (the model's template is applied here);
        ``objective`` picks an output of a multi-objective model."""
        return self.run(plans.rewards_plan(score_step(inputs, objective)), progress=progress)

    def score_results(
        self, inputs: Sequence[str] | Sequence[Conversation], *, objective: str | None = None, progress: bool = False
    ) -> Any:
        """What `score` reads, with everything beside the reward: a ScoreResult per input (token
        count, truncation, every objective, process-reward steps, ensemble members)."""
        return self.run(plans.results_plan(score_step(inputs, objective)), progress=progress)

    def compare(
        self, responses: Sequence[str], *, prompt: str | None = None, messages: Conversation | None = None
    ) -> Any:
        """P(responses[0] better than responses[1]), as a Comparison."""
        return self.run(plans.compare_plan(self.pairwise is not None, responses, prompt, messages))

    def rank(
        self,
        candidates: Sequence[str],
        *,
        prompt: str | None = None,
        messages: Conversation | None = None,
        objective: str | None = None,
        method: str = "knockout",
    ) -> Any:
        """Best first: by reward, or by a knockout / round-robin tournament for a pairwise model;
        identical candidates tie and exact ties go to the earlier one, as in `best_of_n`."""
        pairwise = self.pairwise is not None
        return self.run(plans.rank_plan(pairwise, candidates, prompt, messages, method, self.max_sequences, objective))

    def best_of_n(
        self,
        candidates: Sequence[str],
        *,
        prompt: str | None = None,
        messages: Conversation | None = None,
        objective: str | None = None,
        method: str = "knockout",
    ) -> Any:
        """Score a whole group in one call and pick the best (BestOfN); exact ties go to the earlier one."""
        plan = plans.best_of_n_plan(
            self.pairwise is not None, candidates, prompt, messages, objective, method, self.max_sequences
        )
        return self.run(plan)

    def prefer(self, questions: Sequence[PairQuestion], *, progress: bool = False) -> Any:
        """P(first better) for each question, both orders averaged (pairwise preference models)."""
        return self.run(plans.prefer_plan(questions), progress=progress)


class SyncFront(Front):
    """Answers each step in this thread: ``execute(step, progress)`` returns the answer."""

    @abstractmethod
    def execute(self, step: Step, progress: bool = False) -> Any:
        """The step's answer."""

    def run(self, plan: Plan[Any], *, progress: bool = False) -> Any:
        return drive(plan, lambda step: self.execute(step, progress))


class AsyncFront(Front):
    """Answers each step by awaiting ``execute(step)``; its methods return awaitables."""

    @abstractmethod
    async def execute(self, step: Step, progress: bool = False) -> Any:
        """The step's answer."""

    async def run(self, plan: Plan[Any], *, progress: bool = False) -> Any:
        return await drive_async(plan, self.execute)
