"""`rewardkit train --head-only`: Bradley-Terry training of a linear reward head on a frozen backbone.

The base model becomes a one-label ``*ForSequenceClassification`` checkpoint first, and every text is
tokenized by rewardkit's own Templater and pooled by the served model's own code, so what is trained
is what `rewardkit serve` computes. Knows the pieces (pairs, features, head) and writes checkpoints;
the math is in losses.py and head.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rewardkit.config import ModelConfig
from rewardkit.errors import InvalidInputError, ModelLoadError
from rewardkit.training.head import HeadTraining, train_head
from rewardkit.training.pairs import TrainingPair, oriented, split_pairs

__all__ = ["SeedResult", "TrainReport", "prepare_base", "train_head_only"]


@dataclass
class SeedResult:
    seed: int
    output_dir: str
    losses: list[float]
    reward_mean: float
    reward_std: float
    test: dict[str, Any] | None


@dataclass
class TrainReport:
    base: str
    train_pairs: int
    test_pairs: int
    dropped: dict[str, int]
    length_baseline: dict[str, Any] | None
    seeds: list[SeedResult] = field(default_factory=list)

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
    if (target / "config.json").exists() and source.exists() and source.read_text() == str(base.resolve()):
        return target  # built from this very base by an earlier (perhaps interrupted) run
    from rewardkit.training.base_model import classifier_from_base

    module, tokenizer = classifier_from_base(base)
    target.mkdir(parents=True, exist_ok=True)
    module.save_pretrained(str(target))
    tokenizer.save_pretrained(str(target))
    source.write_text(str(base.resolve()))
    return target


def _features(model: Any, templater: Any, pairs: Sequence[TrainingPair], cache: Path, base: str, progress: bool) -> Any:
    from rewardkit.training.features import pooled_features

    conversations = [
        [*p.context, {"role": "assistant", "content": text}] for p in pairs for text in (p.chosen, p.rejected)
    ]
    items = templater.encode_conversations(conversations)
    feats = pooled_features(model, items, cache_dir=cache, model_id=base, progress=progress)
    return feats[0::2], feats[1::2]


def _accuracy(chosen: Sequence[float], rejected: Sequence[float]) -> dict[str, Any]:
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
) -> TrainReport:
    """Train one head per seed; write each as a servable checkpoint and a report (train_report.json)."""
    import torch

    from rewardkit.evaluation.datasets import read_pairs
    from rewardkit.models import load_model
    from rewardkit.models.sequence_classifier import SequenceClassifierModel
    from rewardkit.service import prepare

    training = training or HeadTraining()
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    dataset = read_pairs(data)
    pairs, draws = oriented(dataset.pairs)
    try:
        train, test = split_pairs(pairs, test_fraction)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    if not train:
        raise InvalidInputError(f"no training pairs left in {', '.join(map(str, data))} after the held-out split")
    config = model_config or ModelConfig(dtype="float32")
    model = load_model(prepare_base(base, out), config)
    if not isinstance(model, SequenceClassifierModel) or model.head is None:
        raise ModelLoadError(
            f"--head-only needs a decoder with a linear score head; {base} loads as {model.info.format}"
        )
    templater = prepare(model, config)[0]
    cache, base_id = out / "cache", str(Path(base).resolve())  # cached features belong to this base
    train_c, train_r = _features(model, templater, train, cache, base_id, progress)
    test_c, test_r = _features(model, templater, test, cache, base_id, progress) if test else (None, None)
    margin = torch.tensor([p.margin for p in train], dtype=torch.float32)
    length = _accuracy([len(p.chosen) for p in test], [len(p.rejected) for p in test]) if test else None
    report = TrainReport(
        base=str(base),
        train_pairs=len(train),
        test_pairs=len(test),
        dropped={**dataset.skipped, **({"draws (label 0.5)": draws} if draws else {})},
        length_baseline=length,
    )
    for seed in seeds:
        settings = HeadTraining(**{**asdict(training), "seed": seed})
        target = out if len(seeds) == 1 else out / f"seed-{seed}"
        target.mkdir(parents=True, exist_ok=True)
        weight, losses = train_head(
            train_c, train_r, margin, settings, state_path=target / "head_state.pt", progress=progress
        )
        rewards = torch.cat([train_c @ weight.T, train_r @ weight.T]).flatten()
        test_metrics = None
        if test_c is not None:
            test_metrics = _accuracy((test_c @ weight.T).flatten().tolist(), (test_r @ weight.T).flatten().tolist())
        result = SeedResult(
            seed=seed,
            output_dir=str(target),
            losses=losses,
            reward_mean=float(rewards.mean()),
            reward_std=float(rewards.std()),
            test=test_metrics,
        )
        _save(model, weight, result, length, target)
        report.seeds.append(result)
    (out / "train_report.json").write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    return report


def _save(model: Any, weight: Any, result: SeedResult, length: dict[str, Any] | None, target: Path) -> None:
    """The backbone with the trained head, the training-set reward mean/std (OpenRLHF's keys, so
    --normalize uses them) and the held-out figures, as a checkpoint `rewardkit serve` loads as it is."""
    import torch

    module = model.module
    with torch.no_grad():
        module.score.weight.copy_(weight.to(module.score.weight.dtype))
    module.config.mean = result.reward_mean
    module.config.std = result.reward_std
    module.config.normalize_reward = False
    module.config.rewardkit_evaluation = {"held_out": result.test, "length_baseline": length, "seed": result.seed}
    module.save_pretrained(str(target))
    model.tokenizer.save_pretrained(str(target))
