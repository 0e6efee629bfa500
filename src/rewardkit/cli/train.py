"""`rewardkit train`: the command line over rewardkit.training (flags named as in TRL's RewardConfig
and ModelConfig). Settings a mode does not use are refused rather than ignored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from rewardkit.cli.common import CLI_ERRORS, accuracy_text, fail
from rewardkit.training.head import HeadTraining
from rewardkit.training.ssrm import SSRMSettings
from rewardkit.training.trl_trainer import DEFAULT_LEARNING_RATE, FinetuneTraining

__all__ = ["train"]

_HEAD, _TUNE, _SSRM = HeadTraining(), FinetuneTraining(), SSRMSettings()
_BOTH = "--use-peft or --full"


MODES = {"--head-only": "head-only", "--use-peft": "lora", "--full": "full"}


def _mode(head_only: bool, use_peft: bool, full: bool) -> str:
    chosen = [flag for flag, on in zip(MODES, (head_only, use_peft, full)) if on]
    if len(chosen) > 1:
        fail(ValueError(f"{' and '.join(chosen)} are different training modes; choose one"))
    return MODES[chosen[0]] if chosen else "head-only"


def _refuse_unused(mode: str, tune_only: dict[str, Any], lora_only: dict[str, Any]) -> None:
    """A flag the chosen mode does not use is an error, not a silent no-op."""
    for flag, value in tune_only.items():
        if value not in (None, False) and mode == "head-only":
            fail(ValueError(f"{flag} applies to --use-peft and --full training, not --head-only"))
    for flag, value in lora_only.items():
        if value is not None and mode != "lora":
            fail(ValueError(f"{flag} applies to LoRA training (--use-peft) only"))


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


def train(
    base_model: str = typer.Argument(
        ..., help="Base model: a checkpoint folder (causal LM, base model or reward model) or a .gguf file."
    ),
    data: list[Path] = typer.Argument(
        ...,
        help="Preference data files or folders: prompt/chosen/rejected (strings or messages, optional 'margin'), "
        "hh-rlhf dialogues, LLMBar, AlpacaEval annotations.",
    ),
    output_dir: Path = typer.Option(..., "-o", "--output-dir", help="Where the trained checkpoint(s) go."),
    head_only: bool = typer.Option(
        False,
        "--head-only",
        help="Freeze the backbone and train a linear head on features computed once and cached (runs on a CPU). "
        "The default mode.",
    ),
    use_peft: bool = typer.Option(
        False,
        "--use-peft",
        help="LoRA: train low-rank adapters on the backbone, and the score head, with TRL's RewardTrainer; the "
        "adapters are merged into the saved checkpoint.",
    ),
    full: bool = typer.Option(
        False, "--full", help="Train every weight with TRL's RewardTrainer (a GPU for all but small models)."
    ),
    num_train_epochs: int | None = typer.Option(
        None,
        min=1,
        show_default=False,
        help=f"Passes over the training pairs. Default: {_HEAD.num_train_epochs} with --head-only, "
        f"{_TUNE.num_train_epochs} with {_BOTH}. A rerun into the same OUTPUT_DIR with more epochs continues a "
        f"finished --head-only run exactly (its learning rate is constant); with {_BOTH}, whose learning rate "
        "decays over all the epochs, a changed epoch count starts over.",
    ),
    learning_rate: float | None = typer.Option(
        None,
        min=0.0,
        show_default=False,
        help=f"AdamW learning rate. Default: {_HEAD.learning_rate:g} with --head-only, "
        f"{DEFAULT_LEARNING_RATE['lora']:g} with --use-peft, {DEFAULT_LEARNING_RATE['full']:g} with --full.",
    ),
    per_device_train_batch_size: int | None = typer.Option(
        None,
        min=1,
        show_default=False,
        help=f"Pairs per batch. Default: {_HEAD.per_device_train_batch_size} with --head-only, "
        f"{_TUNE.per_device_train_batch_size} with {_BOTH}.",
    ),
    gradient_accumulation_steps: int | None = typer.Option(
        None,
        min=1,
        show_default=False,
        help=f"Forward passes per optimizer step ({_BOTH}). Default: {_TUNE.gradient_accumulation_steps}.",
    ),
    weight_decay: float = typer.Option(0.0, min=0.0, help="AdamW weight decay on the trained weights."),
    center_rewards_coefficient: float = typer.Option(
        0.0, min=0.0, help="Weight of the reward-centering term mean((r_chosen + r_rejected)^2); 0 turns it off."
    ),
    gradient_checkpointing: bool = typer.Option(
        False,
        "--gradient-checkpointing",
        help=f"Recompute activations in the backward pass: less GPU memory, slower ({_BOTH}).",
    ),
    lora_r: int | None = typer.Option(
        None, min=1, show_default=False, help=f"LoRA rank (--use-peft). Default: {_TUNE.lora_r}."
    ),
    lora_alpha: int | None = typer.Option(
        None, min=1, show_default=False, help=f"LoRA scaling alpha (--use-peft). Default: {_TUNE.lora_alpha}."
    ),
    lora_dropout: float | None = typer.Option(
        None,
        min=0.0,
        max=1.0,
        show_default=False,
        help=f"Dropout on the LoRA adapters' input (--use-peft); the backbone's own dropout is off. "
        f"Default: {_TUNE.lora_dropout}.",
    ),
    lora_target_modules: str | None = typer.Option(
        None,
        show_default=False,
        help="Comma-separated module names that get adapters (e.g. q_proj,v_proj), or 'all-linear' (--use-peft). "
        "Default: peft's choice for the architecture.",
    ),
    logging_steps: int | None = typer.Option(
        None,
        min=1,
        show_default=False,
        help=f"Optimizer steps per logged (and reported) loss ({_BOTH}). Default: {_TUNE.logging_steps}.",
    ),
    save_steps: int | None = typer.Option(
        None,
        min=1,
        show_default=False,
        help=f"Optimizer steps between trainer checkpoints in OUTPUT_DIR/trainer-checkpoints, which a rerun "
        f"resumes from; delete that folder once done ({_BOTH}). Default: {_TUNE.save_steps}.",
    ),
    seeds: str = typer.Option(
        "0",
        help="Comma-separated seeds. Several train one member each (initialization and data order differ) "
        "into OUTPUT_DIR/seed-K, ready for `rewardkit serve OUTPUT_DIR/seed-*`.",
    ),
    test_fraction: float = typer.Option(
        0.1, min=0.0, max=0.99, help="Share of pairs held out (chosen by content hash, so always the same ones)."
    ),
    max_length: int | None = typer.Option(None, help="Longest input in tokens; longer ones keep their end."),
    unlabeled: list[Path] | None = typer.Option(
        None,
        "--unlabeled",
        help="Unlabeled pairs for semi-supervised rounds (SSRM, --head-only): any preference file above, its "
        "labels not needed (where a row has one, it only measures pseudo-label agreement), or {prompt|messages, "
        "response_a, response_b} JSONL. Repeat for several files. Giving it turns SSRM on.",
    ),
    ssrm_rounds: int | None = typer.Option(
        None,
        min=0,
        show_default=False,
        help="Pseudo-labelling rounds after the first, labeled-only one: each labels every unlabeled pair with the "
        f"current head's P(a better than b), keeps the confident ones and retrains. Default: {_SSRM.rounds}.",
    ),
    ssrm_threshold: float | None = typer.Option(
        None,
        min=0.5,
        max=1.0,
        show_default=False,
        help="Keep a pseudo-label when the head's confidence max(p, 1-p) is at least this; the label follows the "
        f"prediction. Default: {_SSRM.threshold}.",
    ),
) -> None:
    """Train a Bradley-Terry reward model: -log sigmoid(r_chosen - r_rejected - margin), in one of three
    modes: --head-only (the default), --use-peft (LoRA) or --full. Texts are templated and tokenized
    exactly as `rewardkit serve` will, and the reward is read at the token serving reads; the checkpoint
    it writes serves as it is, with the training-set reward mean/std in its config. Reports held-out
    accuracy (95% CI) next to a response-length baseline; an interrupted run resumes where it stopped."""
    from rewardkit.config import ModelConfig

    mode = _mode(head_only, use_peft, full)
    _refuse_unused(
        mode,
        {
            "--gradient-accumulation-steps": gradient_accumulation_steps,
            "--gradient-checkpointing": gradient_checkpointing,
            "--logging-steps": logging_steps,
            "--save-steps": save_steps,
        },
        {
            "--lora-r": lora_r,
            "--lora-alpha": lora_alpha,
            "--lora-dropout": lora_dropout,
            "--lora-target-modules": lora_target_modules,
        },
    )
    ssrm = _ssrm(mode, unlabeled or [], ssrm_rounds, ssrm_threshold)
    seed_list = _seeds(seeds)
    shared = {
        "num_train_epochs": num_train_epochs,
        "learning_rate": learning_rate,
        "per_device_train_batch_size": per_device_train_batch_size,
        "weight_decay": weight_decay,
        "center_rewards_coefficient": center_rewards_coefficient,
    }
    config = ModelConfig(dtype="float32", max_length=max_length)
    try:
        if mode == "head-only":
            from rewardkit.training.trainer import train_head_only

            training = HeadTraining(**_given(shared))
            typer.echo(f"head-only: {_summary(training)}")
            report = train_head_only(
                base_model,
                data,
                output_dir,
                training=training,
                seeds=seed_list,
                test_fraction=test_fraction,
                model_config=config,
                unlabeled=unlabeled or [],
                ssrm=ssrm,
            )
        else:
            from rewardkit.training.finetune import train_finetune

            targets = tuple(t.strip() for t in (lora_target_modules or "").split(",") if t.strip()) or None
            given = {
                **shared,
                "gradient_accumulation_steps": gradient_accumulation_steps,
                "gradient_checkpointing": gradient_checkpointing,
                "logging_steps": logging_steps,
                "save_steps": save_steps,
                "lora_r": lora_r,
                "lora_alpha": lora_alpha,
                "lora_dropout": lora_dropout,
                "lora_target_modules": targets,
            }
            tuned = FinetuneTraining.for_mode(mode, **_given(given))
            typer.echo(f"{'LoRA' if mode == 'lora' else 'full'}: {_summary(tuned)}")
            report = train_finetune(
                base_model,
                data,
                output_dir,
                mode=mode,
                training=tuned,
                seeds=seed_list,
                test_fraction=test_fraction,
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


def _ssrm(mode: str, unlabeled: list[Path], rounds: int | None, threshold: float | None) -> SSRMSettings | None:
    """SSRM settings when unlabeled data was given; its flags without data, or outside --head-only, are errors."""
    if not unlabeled:
        if rounds is not None or threshold is not None:
            fail(ValueError("--ssrm-rounds and --ssrm-threshold need unlabeled pairs: give them with --unlabeled"))
        return None
    if mode != "head-only":
        fail(ValueError("SSRM rounds (--unlabeled) run with --head-only training"))
    return SSRMSettings(**_given({"rounds": rounds, "threshold": threshold}))


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


def _given(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings the user gave; the others (None) keep the dataclass's default for the mode."""
    return {k: v for k, v in settings.items() if v is not None}


def _summary(settings: HeadTraining | FinetuneTraining) -> str:
    epochs = settings.num_train_epochs
    return (
        f"learning rate {settings.learning_rate:g}, {epochs} epoch{'s' if epochs != 1 else ''}, "
        f"{settings.per_device_train_batch_size} pairs per batch"
    )
