"""One model on one device: collate a batch -> forward -> floats.

Knows nothing about queues, requests or HTTP. A packed model (models/packing.py) reads the batch as
one padding-free row; otherwise inputs are right-padded (positions of real tokens never shift).
Either way the model wrapper reads the reward where its format says (the last real token, a
DeepSpeed-Chat pad rule, each step separator of a process reward model).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from rewardkit.errors import InvalidInputError, ModelLoadError, ModelOutputError
from rewardkit.models.base import LoadedModel, StepRewards
from rewardkit.types import ScoreResult, TokenizedItem

__all__ = ["BatchOutput", "FatalRunError", "Runner", "aggregate_steps", "collate", "is_fatal", "objective_index"]


@dataclass
class BatchOutput:
    results: list[ScoreResult | ModelOutputError]
    real_tokens: int
    padded_tokens: int
    cached_tokens: int = 0
    """Tokens whose keys and values came from the prefix cache (not computed by this forward)."""


class FatalRunError(RuntimeError):
    """A failure after which the forward cannot run again (its process died, its device is lost)."""


def is_fatal(exc: BaseException) -> bool:
    """Errors after which the device cannot be trusted again (the worker must stop)."""
    if not isinstance(exc, Exception) or isinstance(exc, FatalRunError):
        return True
    text = str(exc)
    return "CUDA error" in text or "device-side assert" in text


def aggregate_steps(steps: Sequence[float], how: str) -> float:
    """One reward from per-step scores: min (weakest step), last, mean or prod."""
    if how == "min":
        return min(steps)
    if how == "last":
        return steps[-1]
    if how == "mean":
        return sum(steps) / len(steps)
    if how == "prod":
        return math.prod(steps)
    raise ValueError(f"unknown step aggregation {how!r}; use min, last, mean or prod")


def objective_index(outputs: Sequence[str], default: str | None, requested: str | None) -> int:
    """Which output column is the reward: ``requested`` (a name or an index), else ``default``, else 0."""
    name = requested if requested is not None else default
    if name is None:
        return 0
    name = str(name)
    if name in outputs:
        return list(outputs).index(name)
    if name.isascii() and name.isdigit() and len(name) < 10 and int(name) < max(len(outputs), 1):
        return int(name)
    available = ", ".join(repr(o) for o in outputs) if len(outputs) > 1 else "none (the model has one output)"
    shown = name if len(name) <= 40 else name[:40] + "..."
    raise InvalidInputError(f"unknown objective {shown!r}; this model's objectives: {available}")


def _in_response(item: TokenizedItem, position: int) -> bool:
    """Whether a step separator at ``position`` belongs to the scored response (all of a plain text)."""
    start = item.prompt_length or 0
    end = item.response_end if item.response_end is not None else item.length
    return start <= position < end


def collate(items: Sequence[TokenizedItem], pad_id: int) -> tuple[Any, Any]:
    """Right-padded (input_ids, attention_mask) tensors for a batch of items."""
    import torch

    width = max(item.length for item in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, item in enumerate(items):
        ids[row, : item.length] = torch.tensor(item.input_ids, dtype=torch.long)
        mask[row, : item.length] = 1
    return ids, mask


class Runner:
    def __init__(
        self,
        model: LoadedModel,
        *,
        normalize: bool = False,
        objective: str | None = None,
        step_aggregation: str = "min",
        batch_invariant: bool = False,
    ) -> None:
        stats = model.info.normalization
        if normalize and stats is None:
            raise ModelLoadError(
                f"{model.info.path}: normalization was asked for but config.json has no 'mean'/'std'; "
                "drop --normalize or add the statistics to config.json"
            )
        self.model = model
        self.normalize = normalize
        self._mean = stats["mean"] if normalize and stats else 0.0
        self._std = stats["std"] if normalize and stats else 1.0
        self.outputs = list(model.info.outputs)
        try:
            self.objective = objective_index(self.outputs, model.info.objective, objective)
        except InvalidInputError as exc:
            raise ModelLoadError(f"{model.info.path}: --objective: {exc}") from None
        try:
            aggregate_steps([1.0], step_aggregation)  # fail at load time, not per request
        except ValueError as exc:
            raise ModelLoadError(f"--step-aggregation: {exc}") from None
        self.step_aggregation = step_aggregation
        self.batch_invariant = batch_invariant
        """Every sequence runs in a forward of its own: a text's score is bit-identical whatever it is
        batched with (the kernels see the same shapes every time), at the cost of batching's speed."""

    @property
    def objective_name(self) -> str | None:
        return self.outputs[self.objective] if len(self.outputs) > 1 else None

    def run(self, items: Sequence[TokenizedItem]) -> BatchOutput:
        if self.batch_invariant and len(items) > 1:
            alone = [self._run([item]) for item in items]
            return BatchOutput(
                results=[out.results[0] for out in alone],
                real_tokens=sum(out.real_tokens for out in alone),
                padded_tokens=sum(out.padded_tokens for out in alone),
                cached_tokens=sum(out.cached_tokens for out in alone),
            )
        return self._run(items)

    def _run(self, items: Sequence[TokenizedItem]) -> BatchOutput:
        import torch

        real = sum(item.length for item in items)
        cached_before = self.model.cached_tokens
        with torch.inference_mode():
            if self.model.packed:  # one padding-free row: nothing but real tokens is computed
                out = self.model.forward_packed([item.input_ids for item in items])
                computed = real
            else:
                ids, mask = collate(items, self.model.pad_id)
                device = self.model.device
                out = self.model.forward(ids.to(device), mask.to(device))
                computed = ids.shape[1] * len(items)
        steps: list[list[float] | None] = [None] * len(items)
        if isinstance(out, StepRewards):
            steps = [
                [score for score, at in zip(row, where) if _in_response(item, at)]
                for item, row, where in zip(items, out.steps, out.positions)
            ]
            out = out.values
        raw = out.float().reshape(len(items), -1).cpu().tolist()
        return BatchOutput(
            results=[self._result(item, row, step) for item, row, step in zip(items, raw, steps)],
            real_tokens=real,
            padded_tokens=computed,
            cached_tokens=self.model.cached_tokens - cached_before,
        )

    def check_objective(self, objective: str | None) -> None:
        """Raise InvalidInputError now, before any work, for an objective this model does not have."""
        if objective is not None:
            objective_index(self.outputs, None, objective)

    def select(self, result: ScoreResult, objective: str) -> ScoreResult:
        """``result`` with another of its objectives as the score (a per-request choice)."""
        index = objective_index(self.outputs, None, objective)
        if not result.objectives:
            return result
        raw = result.objectives[self.outputs[index]]
        return replace(result, score=(raw - self._mean) / self._std)

    def _result(
        self, item: TokenizedItem, row: list[float], steps: list[float] | None
    ) -> ScoreResult | ModelOutputError:
        values = [*row, *(steps or [])]
        if not all(math.isfinite(v) for v in values):
            return ModelOutputError(
                f"the model returned a non-finite score ({values}) for a {item.length}-token input; with float16 "
                "this is usually overflow: try --dtype bfloat16 or float32"
            )
        raw = aggregate_steps(steps, self.step_aggregation) if steps else row[self.objective]
        objectives = dict(zip(self.outputs, row)) if len(row) > 1 else {}
        return ScoreResult(
            score=(raw - self._mean) / self._std,
            num_tokens=item.length,
            truncated=item.truncated,
            objectives=objectives,
            steps=tuple(steps) if steps is not None else None,
        )
