"""`rewardkit score --backend ray`: the same table scoring, its chunks scored by a pool of Ray actors.

The driver runs `bulk.score_table_with`, the loop the local backend runs: it reads the input, sends
each chunk of rows to one of ``--ray-replicas`` actors (each with its own loaded RewardModel,
``--ray-gpus-per-replica``, ``--ray-cpus-per-replica``), which encodes and scores it exactly as the
local backend would, and writes and commits the chunks in input order. So a Ray run has the local
run's progress record, manifest and error file, resumes after a kill from its last commit with the
same command, and is refused when its input, model or settings changed. Connects to ``RAY_ADDRESS``
when it is set, else starts a local Ray; the actors (and a Ray it started) are stopped when the run
ends or fails, and Ray restarts an actor that dies mid-run and sends it the chunk again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardkit.config import ModelConfig
from rewardkit.errors import RewardKitError
from rewardkit.scoring.bulk import (
    BulkSettings,
    BulkSummary,
    Columns,
    ModelFacts,
    Outcome,
    Row,
    check_resumable,
    describe_model,
    score_rows,
    score_table_with,
)

__all__ = ["RayPool", "RayScorer", "ScoringActor", "score_table_on_ray"]

RESTARTS = 3
"""How often Ray restarts a dead actor, and sends a chunk again, before the run fails."""


@dataclass(frozen=True)
class RayPool:
    """The actors a Ray run scores on: one loaded model each, with the GPUs and CPUs each reserves (the
    same names as `rewardkit serve`'s Ray replicas)."""

    replicas: int = 1
    gpus_per_replica: float = 0.0
    cpus_per_replica: float = 1.0


class ScoringActor:
    """One loaded model in a Ray actor: describes it, and scores the chunks it is sent. A model that
    fails to load fails every call with its own error (a dead actor would only say that it died)."""

    def __init__(self, model: str, config: ModelConfig, columns: Columns, max_batch_tokens: int | None) -> None:
        from rewardkit.scoring.model import RewardModel

        self.columns = columns
        self.failure: RewardKitError | None = None
        try:
            self.model = RewardModel.open(model, config, max_batch_tokens=max_batch_tokens)
        except RewardKitError as exc:
            self.failure = exc

    def describe(self) -> ModelFacts:
        if self.failure is not None:
            raise self.failure
        return describe_model(self.model, self.columns)

    def score(self, rows: list[Row]) -> list[Outcome]:
        if self.failure is not None:
            raise self.failure
        return score_rows(self.model, self.columns, rows)


def _get(refs: Any) -> Any:
    """``ray.get``, with an actor's own error raised as itself and Ray's as a RewardKitError."""
    import ray

    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, RewardKitError):
            raise exc.cause from None
        raise RewardKitError(f"a scoring actor failed: {exc.cause!r}") from exc
    except ray.exceptions.RayActorError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, RewardKitError):
            raise cause from None
        raise RewardKitError(f"a scoring actor died and Ray could not restart it: {exc}") from exc


class RayScorer:
    """A ChunkScorer over a pool of ScoringActors, chunks sent round the pool (two each in flight)."""

    backend = "ray"

    def __init__(
        self, model: str, config: ModelConfig, columns: Columns, pool: RayPool, max_batch_tokens: int | None = None
    ) -> None:
        import ray

        remote = ray.remote(ScoringActor).options(  # type: ignore[attr-defined]
            num_cpus=pool.cpus_per_replica,
            num_gpus=pool.gpus_per_replica,
            max_restarts=RESTARTS,
            max_task_retries=RESTARTS,
        )
        self.actors = [remote.remote(model, config, columns, max_batch_tokens) for _ in range(pool.replicas)]
        self.in_flight = 2 * pool.replicas
        self._sent = 0

    def describe(self) -> ModelFacts:
        facts: list[ModelFacts] = _get([actor.describe.remote() for actor in self.actors])
        for other in facts[1:]:
            if (other.model, other.settings) != (facts[0].model, facts[0].settings):
                raise RewardKitError(
                    f"the actors loaded different models or settings ({facts[0].model} and {other.model}); "
                    "every node must see the same checkpoint at the same path"
                )
        return facts[0]

    def submit(self, rows: list[Row]) -> Any:
        actor = self.actors[self._sent % len(self.actors)]
        self._sent += 1
        return actor.score.remote(rows)

    def result(self, handle: Any) -> list[Outcome]:
        return _get(handle)

    def close(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor)


def _check_room(pool: RayPool) -> None:
    """Refuse a pool the cluster cannot hold at once (its actors would wait forever)."""
    import ray

    resources = ray.cluster_resources()
    for name, each, flag in (
        ("CPU", pool.cpus_per_replica, "--ray-cpus-per-replica"),
        ("GPU", pool.gpus_per_replica, "--ray-gpus-per-replica"),
    ):
        have = resources.get(name, 0.0)
        if pool.replicas * each > have + 1e-9:
            raise RewardKitError(
                f"{pool.replicas} replicas x {each:g} {name}s need more than the cluster's {have:g} {name}s; "
                f"lower --ray-replicas or {flag} (fractions are fine)"
            )


def score_table_on_ray(
    model: str,
    config: ModelConfig,
    source_path: Path,
    target: Path,
    columns: Columns,
    settings: BulkSettings,
    pool: RayPool,
    max_batch_tokens: int | None = None,
    *,
    progress: bool = True,
) -> BulkSummary:
    """Score ``source_path`` into ``target`` on Ray; the rows come back in input order."""
    try:
        import ray
    except ImportError:
        raise RewardKitError("--backend ray needs Ray: pip install 'rewardkit[ray]'") from None
    check_resumable(source_path, target, columns, settings)  # a changed input is refused before Ray starts
    started = not ray.is_initialized()
    if started:
        ray.init(address=os.environ.get("RAY_ADDRESS"), log_to_driver=False, include_dashboard=False)
    try:
        _check_room(pool)
        scorer = RayScorer(model, config, columns, pool, max_batch_tokens)
        try:
            return score_table_with(scorer, source_path, target, settings, progress=progress)
        finally:
            scorer.close()
    finally:
        if started:
            ray.shutdown()
