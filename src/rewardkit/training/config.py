"""The settings of `rewardkit train`, one field per flag. Each field carries its help text (and, for the
command line, its bounds, short flag or switch form); `rewardkit train`'s flags are generated from them.

A field left None takes the default of the chosen mode: HeadTraining's for --head-only,
FinetuneTraining's for --use-peft and --full, SSRMSettings' for the SSRM rounds. The help texts name
those defaults, so they are computed from the settings classes here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardkit.training.head import HeadTraining
from rewardkit.training.ssrm import SSRMSettings
from rewardkit.training.trl_trainer import DEFAULT_LEARNING_RATE, FinetuneMode, FinetuneTraining

__all__ = ["FINETUNE_ONLY", "LORA_ONLY", "SHARED", "TrainConfig"]

_HEAD, _TUNE, _SSRM = HeadTraining(), FinetuneTraining(), SSRMSettings()
_BOTH = "--use-peft or --full"

SHARED = (
    "num_train_epochs",
    "learning_rate",
    "per_device_train_batch_size",
    "weight_decay",
    "center_rewards_coefficient",
)
"""Settings every mode uses, named as in HeadTraining and FinetuneTraining."""
FINETUNE_ONLY = ("gradient_accumulation_steps", "gradient_checkpointing", "logging_steps", "save_steps")
"""Settings only --use-peft and --full use."""
LORA_ONLY = ("lora_r", "lora_alpha", "lora_dropout", "lora_target_modules")
"""Settings only --use-peft uses."""


def _opt(default: Any, help: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """What to train, how, and where to write it (flags named as in TRL's RewardConfig and ModelConfig).

    Metadata beyond ``help``, for the command line: ``short`` (a one-letter flag), ``switch`` (a flag
    without a --no- form), ``min``/``max`` (bounds)."""

    output_dir: Path = field(metadata={"help": "Where the trained checkpoint(s) go.", "short": "-o"})
    head_only: bool = _opt(
        False,
        "Freeze the backbone and train a linear head on features computed once and cached (runs on a CPU). "
        "The default mode.",
        switch=True,
    )
    use_peft: bool = _opt(
        False,
        "LoRA: train low-rank adapters on the backbone, and the score head, with TRL's RewardTrainer; the "
        "adapters are merged into the saved checkpoint.",
        switch=True,
    )
    full: bool = _opt(
        False, "Train every weight with TRL's RewardTrainer (a GPU for all but small models).", switch=True
    )
    num_train_epochs: int | None = _opt(
        None,
        f"Passes over the training pairs. Default: {_HEAD.num_train_epochs} with --head-only, "
        f"{_TUNE.num_train_epochs} with {_BOTH}. A rerun into the same OUTPUT_DIR with more epochs continues a "
        f"finished --head-only run exactly (its learning rate is constant); with {_BOTH}, whose learning rate "
        "decays over all the epochs, a changed epoch count starts over.",
        min=1,
    )
    learning_rate: float | None = _opt(
        None,
        f"AdamW learning rate. Default: {_HEAD.learning_rate:g} with --head-only, "
        f"{DEFAULT_LEARNING_RATE['lora']:g} with --use-peft, {DEFAULT_LEARNING_RATE['full']:g} with --full.",
        min=0.0,
    )
    per_device_train_batch_size: int | None = _opt(
        None,
        f"Pairs per batch. Default: {_HEAD.per_device_train_batch_size} with --head-only, "
        f"{_TUNE.per_device_train_batch_size} with {_BOTH}.",
        min=1,
    )
    gradient_accumulation_steps: int | None = _opt(
        None,
        f"Forward passes per optimizer step ({_BOTH}). Default: {_TUNE.gradient_accumulation_steps}.",
        min=1,
    )
    weight_decay: float = _opt(0.0, "AdamW weight decay on the trained weights.", min=0.0)
    center_rewards_coefficient: float = _opt(
        0.0, "Weight of the reward-centering term mean((r_chosen + r_rejected)^2); 0 turns it off.", min=0.0
    )
    gradient_checkpointing: bool = _opt(
        False, f"Recompute activations in the backward pass: less GPU memory, slower ({_BOTH}).", switch=True
    )
    lora_r: int | None = _opt(None, f"LoRA rank (--use-peft). Default: {_TUNE.lora_r}.", min=1)
    lora_alpha: int | None = _opt(None, f"LoRA scaling alpha (--use-peft). Default: {_TUNE.lora_alpha}.", min=1)
    lora_dropout: float | None = _opt(
        None,
        "Dropout on the LoRA adapters' input (--use-peft); the backbone's own dropout is off. "
        f"Default: {_TUNE.lora_dropout}.",
        min=0.0,
        max=1.0,
    )
    lora_target_modules: str | None = _opt(
        None,
        "Comma-separated module names that get adapters (e.g. q_proj,v_proj), or 'all-linear' (--use-peft). "
        "Default: peft's choice for the architecture.",
    )
    logging_steps: int | None = _opt(
        None,
        f"Optimizer steps per logged (and reported) loss ({_BOTH}). Default: {_TUNE.logging_steps}.",
        min=1,
    )
    save_steps: int | None = _opt(
        None,
        "Optimizer steps between trainer checkpoints in OUTPUT_DIR/trainer-checkpoints, which a rerun "
        f"resumes from; delete that folder once done ({_BOTH}). Default: {_TUNE.save_steps}.",
        min=1,
    )
    soft_labels: bool = _opt(
        False,
        "Train on each pair's soft label P(chosen better) with the soft Bradley-Terry loss "
        "-[p log sigmoid(gap) + (1 - p) log sigmoid(-gap)] (the built-in recipe's loss) instead of counting "
        "every pair as certain. Soft labels come from AlpacaEval annotations' 'preference' in [1, 2] "
        "(p = |preference - 1.5| + 0.5 for the preferred output); other formats' pairs keep p = 1 "
        "(--head-only, without --unlabeled).",
        switch=True,
    )
    seeds: str = _opt(
        "0",
        "Comma-separated seeds. Several train one member each (initialization and data order differ) "
        "into OUTPUT_DIR/seed-K, ready for `rewardkit serve OUTPUT_DIR/seed-*`.",
    )
    test_fraction: float = _opt(
        0.1, "Share of pairs held out (chosen by content hash, so always the same ones).", min=0.0, max=0.99
    )
    max_length: int | None = _opt(None, "Longest input in tokens; longer ones keep their end.")
    unlabeled: list[Path] | None = _opt(
        None,
        "Unlabeled pairs for semi-supervised rounds (SSRM, --head-only): any preference file above, its "
        "labels not needed (where a row has one, it only measures pseudo-label agreement), or {prompt|messages, "
        "response_a, response_b} JSONL. Repeat for several files. Giving it turns SSRM on.",
    )
    ssrm_rounds: int | None = _opt(
        None,
        "Pseudo-labelling rounds after the first, labeled-only one: each labels every unlabeled pair with the "
        f"current head's P(a better than b), keeps the confident ones and retrains. Default: {_SSRM.rounds}.",
        min=0,
    )
    ssrm_threshold: float | None = _opt(
        None,
        "Keep a pseudo-label when the head's confidence max(p, 1-p) is at least this; the label follows the "
        f"prediction. Default: {_SSRM.threshold}.",
        min=0.5,
        max=1.0,
    )

    def head_training(self) -> HeadTraining:
        """--head-only's settings: those given, HeadTraining's defaults for the rest."""
        return HeadTraining(**self._given(SHARED))

    def finetune_training(self, mode: FinetuneMode) -> FinetuneTraining:
        """--use-peft's or --full's settings: those given, the mode's defaults for the rest."""
        given = self._given(SHARED + FINETUNE_ONLY + LORA_ONLY)
        if "lora_target_modules" in given:
            targets = tuple(t.strip() for t in given.pop("lora_target_modules").split(",") if t.strip())
            if targets:
                given["lora_target_modules"] = targets
        return FinetuneTraining.for_mode(mode, **given)

    def ssrm_settings(self) -> SSRMSettings:
        """The SSRM rounds' settings: those given, SSRMSettings' defaults for the rest."""
        given = {"rounds": self.ssrm_rounds, "threshold": self.ssrm_threshold}
        return SSRMSettings(**{k: v for k, v in given.items() if v is not None})

    def _given(self, names: tuple[str, ...]) -> dict[str, Any]:
        """The settings among ``names`` that were given; the others (None) keep the mode's default."""
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}
