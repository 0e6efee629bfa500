"""`rewardkit train`: the command line over rewardkit.training. Its flags are the fields of
TrainConfig (named as in TRL's RewardConfig and ModelConfig). Settings a mode does not use are
refused rather than ignored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from rewardkit.cli.common import CLI_ERRORS, accuracy_text, fail
from rewardkit.cli.options import build_config, config_options
from rewardkit.training.config import FINETUNE_ONLY, LORA_ONLY, TrainConfig
from rewardkit.training.head import HeadTraining
from rewardkit.training.ssrm import SSRMSettings
from rewardkit.training.trl_trainer import FinetuneTraining

__all__ = ["train"]

MODES = {"--head-only": "head-only", "--use-peft": "lora", "--full": "full"}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _mode(config: TrainConfig) -> str:
    chosen = [flag for flag, on in zip(MODES, (config.head_only, config.use_peft, config.full)) if on]
    if len(chosen) > 1:
        fail(ValueError(f"{' and '.join(chosen)} are different training modes; choose one"))
    return MODES[chosen[0]] if chosen else "head-only"


def _refuse_unused(mode: str, config: TrainConfig) -> None:
    """A flag the chosen mode does not use is an error, not a silent no-op."""
    for name in FINETUNE_ONLY:
        if getattr(config, name) not in (None, False) and mode == "head-only":
            fail(ValueError(f"{_flag(name)} applies to --use-peft and --full training, not --head-only"))
    for name in LORA_ONLY:
        if getattr(config, name) is not None and mode != "lora":
            fail(ValueError(f"{_flag(name)} applies to LoRA training (--use-peft) only"))
    if config.soft_labels and mode != "head-only":
        fail(ValueError("--soft-labels applies to --head-only training; --use-peft and --full train on hard labels"))
    if config.soft_labels and config.unlabeled:
        fail(ValueError("--soft-labels trains without SSRM rounds: leave out --unlabeled"))


def _seeds(seeds: str) -> list[int]:
    """The seeds given; each trains into its own folder, so one given twice is an error."""
    try:
        parsed = [int(s) for s in seeds.split(",") if s.strip()] or [0]
    except ValueError:
        fail(ValueError(f"--seeds must be comma-separated integers, got {seeds!r}"))
    repeated = sorted({seed for seed in parsed if parsed.count(seed) > 1})
    if repeated:
        fail(ValueError(f"--seeds names {', '.join(map(str, repeated))} more than once; each seed trains one member"))
    return parsed


@config_options(TrainConfig, panels=False)
def train(
    base_model: str = typer.Argument(
        ..., help="Base model: a checkpoint folder (causal LM, base model or reward model) or a .gguf file."
    ),
    data: list[Path] = typer.Argument(
        ...,
        help="Preference data files or folders: prompt/chosen/rejected (strings or messages, optional 'margin'), "
        "hh-rlhf dialogues, LLMBar, AlpacaEval annotations.",
    ),
    **options: Any,
) -> None:
    """Train a Bradley-Terry reward model: -log sigmoid(r_chosen - r_rejected - margin), in one of three
    modes: --head-only (the default), --use-peft (LoRA) or --full. Texts are templated and tokenized
    exactly as `rewardkit serve` will, and the reward is read at the token serving reads; the checkpoint
    it writes serves as it is, with the training-set reward mean/std in its config. Reports held-out
    accuracy (95% CI) next to a response-length baseline; an interrupted run resumes where it stopped."""
    from rewardkit.config import ModelConfig

    settings: TrainConfig = build_config(TrainConfig, options)
    mode = _mode(settings)
    _refuse_unused(mode, settings)
    ssrm = _ssrm(mode, settings)
    seed_list = _seeds(settings.seeds)
    config = ModelConfig(dtype="float32", max_length=settings.max_length)
    try:
        if mode == "head-only":
            from rewardkit.training.trainer import train_head_only

            training = settings.head_training()
            typer.echo(f"head-only: {_summary(training)}")
            report = train_head_only(
                base_model,
                data,
                settings.output_dir,
                training=training,
                seeds=seed_list,
                test_fraction=settings.test_fraction,
                model_config=config,
                unlabeled=settings.unlabeled or [],
                ssrm=ssrm,
                soft_labels=settings.soft_labels,
            )
        else:
            from rewardkit.training.finetune import train_finetune

            tuned = settings.finetune_training(mode)
            typer.echo(f"{'LoRA' if mode == 'lora' else 'full'}: {_summary(tuned)}")
            report = train_finetune(
                base_model,
                data,
                settings.output_dir,
                mode=mode,
                training=tuned,
                seeds=seed_list,
                test_fraction=settings.test_fraction,
                model_config=config,
            )
    except CLI_ERRORS as exc:
        fail(exc)
    typer.echo(f"trained on {report.train_pairs} pairs, held out {report.test_pairs}")
    if report.length_baseline:
        typer.echo(f"length baseline: {100 * report.length_baseline['accuracy']:.1f}% held-out accuracy")
    for result in report.seeds:
        line = f"seed {result.seed}: loss {result.losses[0]:.4f} -> {result.losses[-1]:.4f}"
        if result.test:
            line += f", held-out accuracy {accuracy_text(result.test)}"
        typer.echo(f"{line} -> {result.output_dir}")
        for entry in result.ssrm or []:
            typer.echo(f"  {_round_line(entry)}")


def _ssrm(mode: str, settings: TrainConfig) -> SSRMSettings | None:
    """SSRM settings when unlabeled data was given; its flags without data, or outside --head-only, are errors."""
    if not settings.unlabeled:
        if settings.ssrm_rounds is not None or settings.ssrm_threshold is not None:
            fail(ValueError("--ssrm-rounds and --ssrm-threshold need unlabeled pairs: give them with --unlabeled"))
        return None
    if mode != "head-only":
        fail(ValueError("SSRM rounds (--unlabeled) run with --head-only training"))
    return settings.ssrm_settings()


def _round_line(entry: dict[str, Any]) -> str:
    line = f"SSRM round {entry['round']}: {entry['train_pairs']} training pairs"
    if entry["round"] > 0:
        line += f" ({entry['pseudo_labels']} pseudo-labelled"
        agreement = entry.get("pseudo_label_agreement")
        if agreement is not None:
            line += f", {100 * agreement:.1f}% agree with the file's labels"
        line += ")"
    held_out = entry.get("held_out")
    if held_out:
        line += f", held-out accuracy {100 * held_out['accuracy']:.1f}%"
    return line


def _summary(settings: HeadTraining | FinetuneTraining) -> str:
    epochs = settings.num_train_epochs
    return (
        f"learning rate {settings.learning_rate:g}, {epochs} epoch{'s' if epochs != 1 else ''}, "
        f"{settings.per_device_train_batch_size} pairs per batch"
    )
