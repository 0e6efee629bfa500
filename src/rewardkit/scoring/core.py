"""One loaded model's scoring core: a step -> token ids (`encode`) and the model's outputs -> the
step's answer (`finish`).

Everything a front end does to a step except running the model lives here, once: input checks,
templating, truncation, pairwise prompts, objective selection. RewardModel runs the items straight
through the runner, RewardService through the engine's queue; both call the same two methods.
Knows nothing about queues, threads or HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rewardkit.config import ModelConfig
from rewardkit.engine.runner import Runner
from rewardkit.errors import InvalidInputError
from rewardkit.models.base import LoadedModel
from rewardkit.scoring.pairwise import PairPrompter, ordered_pairs
from rewardkit.scoring.steps import ComparePairs, ScoreConversations, ScoreTexts, Step
from rewardkit.templating import Templater
from rewardkit.types import ScoreResult, TokenizedItem

__all__ = ["ModelCore", "OneModel", "pairwise_only"]


def pairwise_only(model: LoadedModel) -> None:
    """Refuse pointwise scoring on a pairwise preference model: it has no reward for one response."""
    if model.info.pairwise is not None:
        raise InvalidInputError(
            "this is a pairwise preference model: it says which of two responses is better and has no reward "
            "for a single one. Use POST /compare (two responses) or POST /rank (several)."
        )


class ModelCore:
    """The templater, runner and (pairwise models) pair prompter of ``model`` under ``config``;
    records the settings actually used in ``model.info``."""

    def __init__(self, model: LoadedModel, config: ModelConfig | None = None) -> None:
        config = config or ModelConfig()
        self.model = model
        self.config = config
        self.templater = Templater(
            model.tokenizer,
            max_length=model.info.max_length,
            truncation=config.truncation,
            append_eos=config.append_eos,
            track_prompt=model.info.steps is not None,
            rendering=model.rendering,
        )
        normalize = model.info.normalize_by_default if config.normalize is None else config.normalize
        # a recipe states its own default (models/recipes/), which --step-aggregation overrides
        aggregation = config.step_aggregation or (model.info.steps or {}).get("default_aggregation") or "min"
        self.runner = Runner(
            model,
            normalize=normalize,
            objective=config.objective,
            step_aggregation=aggregation,
            batch_invariant=config.batch_invariant,
        )
        self.pairwise = PairPrompter(self.templater, config.pairwise_template) if model.info.pairwise else None
        model.info.template = self.templater.template_name
        model.info.normalized = normalize
        model.info.batch_invariant = config.batch_invariant
        model.info.objective = self.runner.objective_name
        if model.info.steps is not None:
            model.info.steps["aggregation"] = aggregation

    def check(self, step: Step) -> None:
        """Refuse a step this model cannot answer, before any tokenizing."""
        if isinstance(step, ComparePairs):
            if self.pairwise is None:
                raise InvalidInputError("this is a pointwise reward model: compare responses by their rewards")
            return
        pairwise_only(self.model)
        self.runner.check_objective(step.objective)

    def encode(self, step: Step, start: int = 0, stop: int | None = None) -> list[TokenizedItem]:
        """Check the step and turn its inputs ``[start:stop]`` into the sequences the model reads (CPU
        work: run it off the event loop; a server encodes a large step in slices, so that a client
        that leaves stops its tokenizing too)."""
        self.check(step)
        if isinstance(step, ComparePairs):
            return self.pairwise.encode_questions(step.questions[start:stop])  # type: ignore[union-attr]
        if isinstance(step, ScoreTexts):
            return self.templater.encode_texts(step.texts[start:stop], start)
        if isinstance(step, ScoreConversations):
            return self.templater.encode_conversations(step.conversations[start:stop], start)
        raise TypeError(f"not a scoring step: {step!r}")

    def finish(self, step: Step, results: Sequence[ScoreResult]) -> Any:
        """The step's answer from one ScoreResult per encoded item."""
        if isinstance(step, ComparePairs):
            return ordered_pairs([r.score for r in results])
        if step.objective is None:
            return list(results)
        return [self.runner.select(r, step.objective) for r in results]


class OneModel:
    """What a front end over one loaded model shows of its core (RewardModel, RewardService)."""

    core: ModelCore

    model = property(lambda self: self.core.model, doc="The LoadedModel.")
    config = property(lambda self: self.core.config, doc="The ModelConfig in force.")
    templater = property(lambda self: self.core.templater, doc="How inputs become token ids.")
    runner = property(lambda self: self.core.runner, doc="Batch -> ScoreResults.")
    pairwise = property(lambda self: self.core.pairwise, doc="The pair prompter of a pairwise model, else None.")
