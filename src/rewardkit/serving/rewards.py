"""What POST /get_reward answers: the model's reward, or a weighted sum of it and the reward
functions served beside it (rewardkit serve --reward-fn), every part in extra_logs; and NoModel,
the service of a server that serves reward functions alone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rewardkit.config import RewardsConfig
from rewardkit.errors import InvalidInputError, ModelNotFoundError
from rewardkit.rules import Composite, RulePool, samples_from, samples_from_conversations
from rewardkit.rules.composite import MODEL_PART
from rewardkit.scoring.ensemble import gather_or_cancel
from rewardkit.scoring.front import AsyncFront
from rewardkit.scoring.protocols import ScoringService
from rewardkit.scoring.steps import Step
from rewardkit.types import Conversation, ScoreResult

__all__ = ["NoModel", "RewardParts", "model_logs"]


NO_MODEL = (
    "this server has no model: it serves only its reward functions (--reward-fn), on POST /get_reward; "
    "start `rewardkit serve MODEL --reward-fn ...` to score with a model too"
)


class NoModel(AsyncFront):
    """The service of a rules-only server: healthy, and every model route answers 404 saying so."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    @property
    def healthy(self) -> bool:
        return True

    @property
    def death_reason(self) -> str | None:
        return None

    @property
    def broken(self) -> str | None:
        return None

    def saturated(self) -> float | None:
        return None

    def info(self) -> dict[str, Any]:
        return {"format": "none", "model": None}

    async def execute(self, step: Step, progress: bool = False) -> Any:
        raise ModelNotFoundError(NO_MODEL)


def model_logs(results: Sequence[ScoreResult]) -> dict[str, list[float]]:
    """The model's per-query logs: truncated, num_tokens, each objective, each ensemble member, num_steps."""
    logs: dict[str, list[float]] = {
        "truncated": [float(r.truncated) for r in results],
        "num_tokens": [float(r.num_tokens) for r in results],
    }
    if not results:
        return logs
    for name in results[0].objectives:
        logs[name] = [r.objectives[name] for r in results]
    for name in results[0].members:
        logs[f"member/{name}"] = [r.members[name] for r in results]
    if results[0].steps is not None:
        logs["num_steps"] = [float(len(r.steps or ())) for r in results]
    return logs


class RewardParts:
    """The model (unless ``has_model`` is false) and the rules of ``config``, combined by its weights."""

    def __init__(self, config: RewardsConfig, *, has_model: bool, max_pending: int = 4096) -> None:
        if config.weights and not config.reward_fn:
            raise InvalidInputError("--weights weighs reward functions against the model; give --reward-fn too")
        self.pool = RulePool(config.reward_fn, config, max_pending=max_pending) if config.reward_fn else None
        rules = self.pool.names if self.pool else []
        self.has_model = has_model
        self.composite = Composite(([MODEL_PART] if has_model else []) + rules, config.weights)

    @property
    def combining(self) -> bool:
        """True when rules are served: the answer is a combination, with every part logged."""
        return self.pool is not None

    @property
    def rule_names(self) -> list[str]:
        return self.pool.names if self.pool else []

    @property
    def unavailable(self) -> str | None:
        """Why the reward functions cannot be computed now (no worker can start; /health says it with a
        503), else None."""
        return self.pool.unavailable if self.pool is not None else None

    def start(self) -> None:
        if self.pool is not None:
            self.pool.start()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()

    def info(self) -> dict[str, Any]:
        return {"rules": self.pool.describe() if self.pool else [], "weights": self.composite.weights}

    async def reward(
        self,
        service: ScoringService,
        queries: Sequence[str] | None,
        prompts: Sequence[Any] | None,
        labels: Sequence[Any] | None,
        objective: str | None,
        conversations: Sequence[Conversation] | None = None,
        *,
        need_model: bool = False,
    ) -> tuple[list[float], dict[str, list[float]], list[ScoreResult]]:
        """(rewards, extra_logs, the model's results) for one request of full texts (``queries``) or
        ``conversations``; the model and the rules run at once, and the first failure cancels the other.
        ``need_model``: the route reports the model's facts, so a rules-only server refuses it."""
        if need_model and not self.has_model:
            raise ModelNotFoundError(NO_MODEL)
        if self.pool is not None:
            self.pool.labels_needed(labels, len(conversations if conversations is not None else queries or []))
        jobs: list[Any] = []
        if self.has_model:
            if conversations is not None:
                jobs.append(service.score_results(conversations, objective=objective))
            else:
                jobs.append(service.score_results(queries or [], objective=objective))
        if self.pool is not None:
            samples = (
                samples_from_conversations(conversations, labels)
                if conversations is not None
                else samples_from(queries or [], prompts, labels)
            )
            jobs.append(self.pool.score(samples))
        answers = await gather_or_cancel(*jobs)
        results: list[ScoreResult] = answers.pop(0) if self.has_model else []
        logs = model_logs(results) if self.has_model else {}
        if self.pool is None:
            return [r.score for r in results], logs, results
        parts = {MODEL_PART: [r.score for r in results]} if self.has_model else {}
        for name, output in answers[0].items():
            parts[name] = output.rewards
            logs.update(output.extra_logs)
        logs.update(parts)
        return self.composite.combine(parts), logs, results
