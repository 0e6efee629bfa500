"""`rewardkit train --use-peft | --full`: Bradley-Terry training of the backbone too, LoRA or every weight.

Shares the data split, the base, the saved checkpoint and the report with head-only training
(trainer.py); the training loop is TRL's (trl_trainer.py). The output is a plain
``*ForSequenceClassification`` checkpoint (LoRA merged in) that `rewardkit serve` loads as it is, and
its held-out figures come from scoring the held-out pairs with that saved checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from rewardkit.config import ModelConfig
from rewardkit.errors import InvalidInputError
from rewardkit.training.head import draw_head
from rewardkit.training.trainer import (
    SeedResult,
    TrainReport,
    load_decoder,
    pair_accuracy,
    pair_conversations,
    read_training_data,
    save_reward_checkpoint,
    seed_dir,
    write_report,
)
from rewardkit.training.trl_trainer import (
    DEFAULT_LEARNING_RATE,
    FinetuneMode,
    FinetuneTraining,
    preference_rows,
    run_reward_trainer,
    training_rewards,
)

__all__ = ["DEFAULT_LEARNING_RATE", "FinetuneMode", "FinetuneTraining", "train_finetune"]

FLAGS = {"lora": "--use-peft", "full": "--full"}


def train_finetune(
    base: str | Path,
    data: Sequence[str | Path],
    output_dir: str | Path,
    *,
    mode: FinetuneMode = "lora",
    training: FinetuneTraining | None = None,
    seeds: Sequence[int] = (0,),
    test_fraction: float = 0.1,
    model_config: ModelConfig | None = None,
    progress: bool = True,
    callbacks: Sequence[Any] = (),
) -> TrainReport:
    """Train one model per seed (LoRA or every weight); write each as a servable checkpoint and a
    report (train_report.json). Trainer checkpoints go to OUTPUT_DIR/trainer-checkpoints/seed-K, and
    a rerun resumes from the last one. ``callbacks`` are transformers TrainerCallbacks."""
    from rewardkit.scoring.core import ModelCore

    if mode not in FLAGS:
        raise InvalidInputError(f"mode must be 'lora' or 'full', not {mode!r}")
    training = training or FinetuneTraining.for_mode(mode)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    prepared = read_training_data(data, test_fraction)
    config = model_config or ModelConfig(dtype="float32")
    report = TrainReport(
        base=str(base),
        train_pairs=len(prepared.train),
        test_pairs=len(prepared.test),
        dropped=prepared.dropped,
        length_baseline=prepared.length_baseline,
        mode=mode,
        settings=_shared_settings(training, mode),
    )
    rows = None
    for seed in seeds:
        model = load_decoder(base, out, config, FLAGS[mode])  # a fresh copy of the base for every seed
        if rows is None:
            rows = preference_rows(ModelCore(model, config).templater, prepared.train)
        if Path(model.info.path).resolve() != Path(base).resolve():
            _fresh_head(model.module, seed)  # a converted base's head is random: each seed draws its own
        settings = replace(training, seed=seed)
        module, losses = run_reward_trainer(
            model,
            rows,
            settings,
            mode,
            out / "trainer-checkpoints" / f"seed-{seed}",
            base=str(Path(base).resolve()),
            progress=progress,
            callbacks=callbacks,
        )
        rewards = training_rewards(module, rows, model.pad_id, 2 * settings.per_device_train_batch_size)
        target = seed_dir(out, seeds, seed)
        result = SeedResult.from_rewards(seed, target, losses, rewards, test=None)
        save_reward_checkpoint(module, model.tokenizer, result, prepared.length_baseline, target)
        del model, module
        _release_memory()  # before the saved copy is loaded to score the held-out pairs
        if prepared.test:
            result.test = _served_accuracy(target, config, prepared.test, progress)
            _record_held_out(target, result.test)
        report.seeds.append(result)
    write_report(out, report)
    return report


def _shared_settings(training: FinetuneTraining, mode: FinetuneMode) -> dict[str, Any]:
    """The settings every seed trained with: the seed is each one's own, LoRA's only apply to LoRA."""
    unused = ("seed",) if mode == "lora" else ("seed", *(k for k in asdict(training) if k.startswith("lora_")))
    return {k: v for k, v in asdict(training).items() if k not in unused}


def _fresh_head(module: Any, seed: int) -> None:
    """The score head drawn from ``seed``, as head-only training draws its head."""
    import torch

    weight = module.score.weight
    with torch.no_grad():
        weight.copy_(draw_head(weight.shape[1], torch.Generator().manual_seed(seed)))


def _release_memory() -> None:
    import gc

    import torch

    gc.collect()  # the trainer's references to the module form cycles
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _record_held_out(target: Path, figures: dict[str, Any]) -> None:
    """Add the held-out figures to the saved config, as transformers writes it."""
    path = target / "config.json"
    config = json.loads(path.read_text())
    config["rewardkit_evaluation"]["held_out"] = figures
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _served_accuracy(target: Path, config: ModelConfig, pairs: Sequence[Any], progress: bool) -> dict[str, Any]:
    """Held-out figures of the checkpoint as saved, scored the way `rewardkit serve` scores."""
    from rewardkit.scoring.model import RewardModel

    scores = RewardModel.open(target, config).score(pair_conversations(pairs), progress=progress)
    return pair_accuracy(scores[0::2], scores[1::2])
