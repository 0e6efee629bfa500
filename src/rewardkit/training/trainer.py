"""`rewardkit train --head-only`: Bradley-Terry training of a linear reward head on a frozen backbone.

The base model becomes a one-label ``*ForSequenceClassification`` checkpoint first, and every text is
tokenized by rewardkit's own Templater and pooled by the served model's own code, so what is trained
is what `rewardkit serve` computes. Knows the pieces (pairs, features, head) and writes checkpoints;
the math is in losses.py and head.py, the semi-supervised rounds (given unlabeled pairs) in ssrm.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rewardkit.config import ModelConfig
from rewardkit.errors import InvalidInputError, ModelLoadError
from rewardkit.models.base_model import base_identity, classifier_from_base
from rewardkit.models.checkpoint import reward_config
from rewardkit.training.head import HeadTraining, train_head
from rewardkit.training.pairs import TrainingPair, oriented, split_pairs
from rewardkit.training.ssrm import SSRMSettings, read_pool, train_rounds
from rewardkit.types import with_answer

__all__ = [
    "SSRMSettings",
    "SeedResult",
    "TrainReport",
    "TrainingData",
    "load_decoder",
    "pair_accuracy",
    "pair_conversations",
    "prepare_base",
    "read_training_data",
    "save_reward_checkpoint",
    "seed_dir",
    "train_head_only",
    "write_report",
]


@dataclass
class SeedResult:
    seed: int
    output_dir: str
    losses: list[float]
    reward_mean: float
    reward_std: float
    test: dict[str, Any] | None
    ssrm: list[dict[str, Any]] | None = None
    """Per SSRM round (round 0: labeled data only): held-out figures, pseudo-labels kept, losses."""

    @classmethod
    def from_rewards(cls, seed: int, target: Path, losses: list[float], rewards: Any, **rest: Any) -> SeedResult:
        """A seed's result with the mean/std of its training-set rewards (the config's normalization)."""
        mean, std = float(rewards.mean()), float(rewards.std())
        return cls(seed=seed, output_dir=str(target), losses=losses, reward_mean=mean, reward_std=std, **rest)


@dataclass
class TrainReport:
    base: str
    train_pairs: int
    test_pairs: int
    dropped: dict[str, int]
    length_baseline: dict[str, Any] | None
    seeds: list[SeedResult] = field(default_factory=list)
    mode: str = "head-only"
    settings: dict[str, Any] | None = None  # the training settings the seeds shared
    ssrm: dict[str, Any] | None = None
    """The unlabeled pool (files, pairs, what was dropped) and the SSRM settings, when given."""

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seeds": [asdict(s) for s in self.seeds]}


def _is_reward_checkpoint(folder: Path) -> bool:
    config = folder / "config.json"
    if not config.exists():
        return False
    data = json.loads(config.read_text())
    archs = data.get("architectures") or []
    return any(a.endswith("ForSequenceClassification") for a in archs) and data.get("num_labels", 1) == 1


def prepare_base(base: str | Path, work_dir: Path) -> Path:
    """A one-label sequence-classification checkpoint of ``base`` (a folder, or a .gguf file whose
    weights are dequantized); a checkpoint that already is one is used as it is."""
    base = Path(base)
    if base.is_dir() and _is_reward_checkpoint(base):
        return base
    target = work_dir / "base"
    source = target / "rewardkit_source.txt"
    identity = base_identity(base)
    if (target / "config.json").exists() and source.exists() and source.read_text() == identity:
        return target  # built from this very base by an earlier (perhaps interrupted) run

    module, tokenizer = classifier_from_base(base)
    target.mkdir(parents=True, exist_ok=True)
    module.save_pretrained(str(target))
    tokenizer.save_pretrained(str(target))
    source.write_text(identity)
    return target


@dataclass
class TrainingData:
    train: list[TrainingPair]
    test: list[TrainingPair]
    dropped: dict[str, int]
    length_baseline: dict[str, Any] | None  # held-out accuracy of "the longer response wins"


def read_training_data(data: Sequence[str | Path], test_fraction: float) -> TrainingData:
    """The pairs, chosen first, split into train and held-out by content hash (every mode alike)."""
    from rewardkit.data.readers import read_pairs

    dataset = read_pairs(data)
    pairs, draws = oriented(dataset.pairs)
    try:
        train, test = split_pairs(pairs, test_fraction)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    if not train:
        raise InvalidInputError(f"no training pairs left in {', '.join(map(str, data))} after the held-out split")
    length = pair_accuracy([len(p.chosen) for p in test], [len(p.rejected) for p in test]) if test else None
    dropped = {**dataset.skipped, **({"draws (label 0.5)": draws} if draws else {})}
    return TrainingData(train, test, dropped, length)


def load_decoder(base: str | Path, out: Path, config: ModelConfig, flag: str) -> Any:
    """The base as the served SequenceClassifierModel; every mode needs its linear score head."""
    from rewardkit.models import load_model
    from rewardkit.models.sequence_classifier import SequenceClassifierModel

    model = load_model(prepare_base(base, out), config)
    if not isinstance(model, SequenceClassifierModel) or model.head is None:
        raise ModelLoadError(f"{flag} needs a decoder with a linear score head; {base} loads as {model.info.format}")
    return model


def pair_conversations(pairs: Sequence[TrainingPair]) -> list[Any]:
    """Each pair's chosen then rejected conversation, interleaved."""
    return [with_answer(p.context, text) for p in pairs for text in (p.chosen, p.rejected)]


def seed_dir(out: Path, seeds: Sequence[int], seed: int) -> Path:
    """A seed's checkpoint folder: the output folder itself, or seed-K when there are several."""
    return out if len(seeds) == 1 else out / f"seed-{seed}"


def write_report(out: Path, report: TrainReport) -> None:
    (out / "train_report.json").write_text(json.dumps(report.as_dict(), indent=2) + "\n")


def _features(model: Any, templater: Any, pairs: Sequence[TrainingPair], cache: Path, base: str, progress: bool) -> Any:
    from rewardkit.training.features import pooled_features

    items = templater.encode_conversations(pair_conversations(pairs))
    feats = pooled_features(model, items, cache_dir=cache, model_id=base, progress=progress)
    return feats[0::2], feats[1::2]


def _held_out(weight: Any, test_c: Any, test_r: Any) -> dict[str, Any] | None:
    """Held-out accuracy (95% CI) of the head ``weight``; None without a held-out split."""
    if test_c is None:
        return None
    return pair_accuracy((test_c @ weight.T).flatten().tolist(), (test_r @ weight.T).flatten().tolist())


def pair_accuracy(chosen: Sequence[float], rejected: Sequence[float]) -> dict[str, Any]:
    """Pair metrics (accuracy with its 95% CI, ...) of the rewards of chosen and rejected responses."""
    import numpy as np

    from rewardkit.evaluation.metrics import pair_metrics

    c, r = np.asarray(chosen, dtype=np.float64), np.asarray(rejected, dtype=np.float64)
    return pair_metrics(c, r, np.ones_like(c)).as_dict()


def train_head_only(
    base: str | Path,
    data: Sequence[str | Path],
    output_dir: str | Path,
    *,
    training: HeadTraining | None = None,
    seeds: Sequence[int] = (0,),
    test_fraction: float = 0.1,
    model_config: ModelConfig | None = None,
    progress: bool = True,
    unlabeled: Sequence[str | Path] = (),
    ssrm: SSRMSettings | None = None,
    soft_labels: bool = False,
) -> TrainReport:
    """Train one head per seed; write each as a servable checkpoint and a report (train_report.json).

    With ``unlabeled`` pair files, each seed runs semi-supervised rounds (``ssrm``, default
    SSRMSettings()): its checkpoint is the last round's and its report lists every round.
    ``soft_labels`` trains on each pair's P(chosen better) (AlpacaEval's ``preference``) with the
    soft Bradley-Terry loss, as the built-in recipe does; without it every label counts as certain."""
    import torch

    from rewardkit.scoring.core import ModelCore

    training = training or HeadTraining()
    if ssrm is not None and not unlabeled:
        raise InvalidInputError("SSRM settings need unlabeled pairs to pseudo-label (none were given)")
    if soft_labels and unlabeled:
        raise InvalidInputError("soft labels train without SSRM rounds: leave out the unlabeled pairs")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    prepared = read_training_data(data, test_fraction)
    train, test, length = prepared.train, prepared.test, prepared.length_baseline
    pool, pool_summary = read_pool(unlabeled, test, train) if unlabeled else ([], None)
    ssrm = ssrm or SSRMSettings()
    config = model_config or ModelConfig(dtype="float32")
    model = load_decoder(base, out, config, "--head-only")
    templater = ModelCore(model, config).templater
    cache, base_id = out / "cache", base_identity(base)  # cached features belong to this very base
    train_c, train_r = _features(model, templater, train, cache, base_id, progress)
    test_c, test_r = _features(model, templater, test, cache, base_id, progress) if test else (None, None)
    pool_pairs = [TrainingPair(p.context, p.first, p.second) for p in pool]  # first/second, unoriented
    pool_features = _features(model, templater, pool_pairs, cache, base_id, progress) if pool else (None, None)
    margin = torch.tensor([p.margin for p in train], dtype=torch.float32)
    labels = torch.tensor([p.p for p in train], dtype=torch.float32) if soft_labels else None
    report = TrainReport(
        base=str(base),
        train_pairs=len(train),
        test_pairs=len(test),
        dropped=prepared.dropped,
        settings={
            **{k: v for k, v in asdict(training).items() if k != "seed"},  # each seed's is its own
            **({"soft_labels": True, "soft_pairs": sum(p.p < 1.0 for p in train)} if soft_labels else {}),
        },
        length_baseline=length,
        ssrm={**pool_summary, "rounds": ssrm.rounds, "threshold": ssrm.threshold} if pool_summary else None,
    )
    for seed in seeds:
        settings = HeadTraining(**{**asdict(training), "seed": seed})
        target = seed_dir(out, seeds, seed)
        target.mkdir(parents=True, exist_ok=True)
        rounds = None
        if pool:
            run = train_rounds(
                (train_c, train_r, margin),
                pool,
                pool_features,
                settings,
                ssrm,
                evaluate=lambda w: _held_out(w, test_c, test_r),
                state_dir=target,
                progress=progress,
            )
            weight, losses, rounds = run.weight, run.losses, run.rounds
        else:
            weight, losses = train_head(
                train_c,
                train_r,
                margin,
                settings,
                state_path=target / "head_state.pt",
                progress=progress,
                target=labels,
            )
        rewards = torch.cat([train_c @ weight.T, train_r @ weight.T]).flatten()
        result = SeedResult.from_rewards(
            seed, target, losses, rewards, test=_held_out(weight, test_c, test_r), ssrm=rounds
        )
        _save(model, weight, result, length, target)
        report.seeds.append(result)
    write_report(out, report)
    return report


def _save(model: Any, weight: Any, result: SeedResult, length: dict[str, Any] | None, target: Path) -> None:
    """The backbone with the trained head."""
    import torch

    module = model.module
    with torch.no_grad():
        module.score.weight.copy_(weight.to(module.score.weight.dtype))
    save_reward_checkpoint(module, model.tokenizer, result, length, target)


def save_reward_checkpoint(
    module: Any, tokenizer: Any, result: SeedResult, length: dict[str, Any] | None, target: Path
) -> None:
    """``module`` with the training-set reward mean/std (OpenRLHF's keys, so --normalize uses them)
    and the held-out figures in its config, as a checkpoint `rewardkit serve` loads as it is."""
    evaluation = {"held_out": result.test, "length_baseline": length, "seed": result.seed}
    evaluation = evaluation if result.ssrm is None else {**evaluation, "ssrm": result.ssrm}
    module.config.update(reward_config(result.reward_mean, result.reward_std, evaluation))
    module.save_pretrained(str(target))
    tokenizer.save_pretrained(str(target))
