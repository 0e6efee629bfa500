"""TRL's RewardTrainer, fed rewardkit's tokens and reading the reward where serving reads it.

TRL tokenizes with the tokenizer's own chat template and transformers pools at the last token that
is not the pad id, which reads the wrong token whenever the pad id is also a real token (pad == eos,
as in SmolLM2). Here the trainer gets rows that rewardkit's Templater tokenized, and the module's
forward reads the score at the last attended token by the served model's own ``pooled``. TRL keeps
the rest: the Bradley-Terry loss with margins and reward centering, peft, mixed precision and
checkpoints that a rerun resumes from.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from rewardkit.errors import InvalidInputError
from rewardkit.models.base_model import base_identity
from rewardkit.training.pairs import TrainingPair

__all__ = [
    "DEFAULT_LEARNING_RATE",
    "FinetuneMode",
    "FinetuneTraining",
    "preference_rows",
    "read_reward_where_served",
    "run_reward_trainer",
    "training_rewards",
]

log = logging.getLogger(__name__)

RUN_FILE = "run.json"


FinetuneMode = Literal["lora", "full"]

DEFAULT_LEARNING_RATE: dict[str, float] = {"lora": 1e-4, "full": 1e-5}
"""A LoRA adapter takes larger steps than the full weights can without forgetting the base."""


@dataclass(frozen=True)
class FinetuneTraining:
    """Settings in TRL's and peft's names. The defaults suit a small model on a CPU; the learning
    rate is LoRA's (``for_mode`` gives each mode its own)."""

    num_train_epochs: int = 1
    learning_rate: float = DEFAULT_LEARNING_RATE["lora"]
    per_device_train_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    weight_decay: float = 0.0
    center_rewards_coefficient: float = 0.0
    gradient_checkpointing: bool = False
    logging_steps: int = 10
    save_steps: int = 200
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: tuple[str, ...] | None = None  # None: peft's choice for the architecture
    seed: int = 0

    @classmethod
    def for_mode(cls, mode: FinetuneMode, **settings: Any) -> FinetuneTraining:
        """The settings given, with the mode's default learning rate when none is given."""
        return cls(**{"learning_rate": DEFAULT_LEARNING_RATE[mode], **settings})

    def lora_config(self) -> Any:
        from peft import LoraConfig, TaskType

        targets = tuple(self.lora_target_modules or ())
        return LoraConfig(
            task_type=TaskType.SEQ_CLS,  # keeps the score head trainable and saved (modules_to_save)
            r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            # peft takes its shortcut ("all-linear") as one string, module names as a list
            target_modules=targets[0] if targets == ("all-linear",) else list(targets) or None,
        )


def preference_rows(templater: Any, pairs: Sequence[TrainingPair]) -> dict[str, list[Any]]:
    """TRL's pre-tokenized preference columns (chosen_ids, rejected_ids, margin), tokenized by the
    Templater serving uses, so TRL's own templating and EOS handling never run."""
    from rewardkit.training.trainer import pair_conversations

    items = templater.encode_conversations(pair_conversations(pairs))
    return {
        "chosen_ids": [list(item.input_ids) for item in items[0::2]],
        "rejected_ids": [list(item.input_ids) for item in items[1::2]],
        "margin": [float(p.margin) for p in pairs],
    }


def read_reward_where_served(model: Any) -> None:
    """Make the module's forward return the score at the last attended token, computed by the
    served model's ``pooled``. Every wrapper (peft, accelerate, DDP) calls this forward, so the loss
    sees exactly the reward `rewardkit serve` returns; under peft ``module.score`` is the trainable
    copy, looked up on each call."""
    from transformers.modeling_outputs import SequenceClassifierOutput

    module = model.module

    def forward(input_ids: Any = None, attention_mask: Any = None, **_unused: Any) -> Any:
        # TRL passes the batch's margin and use_cache, peft its None-valued options: the reward
        # depends on the tokens and the mask only.
        return SequenceClassifierOutput(logits=module.score(model.pooled(input_ids, attention_mask)))

    module.forward = forward


def training_rewards(module: Any, rows: dict[str, list[Any]], pad_id: int, batch_size: int) -> Any:
    """Rewards of every chosen and rejected response, by the forward the loss used (float32, [2n])."""
    import torch
    from trl.trainer.reward_trainer import DataCollatorForPreference

    collate = DataCollatorForPreference(pad_token_id=pad_id)
    device = next(module.parameters()).device
    module.eval()
    out = []
    n = len(rows["chosen_ids"])
    for start in range(0, n, batch_size):
        batch = collate(
            [
                {"chosen_ids": rows["chosen_ids"][i], "rejected_ids": rows["rejected_ids"][i]}
                for i in range(start, min(start + batch_size, n))
            ]
        )
        with torch.inference_mode():
            logits = module(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))
        out.append(logits.logits.float().flatten().cpu())
    return torch.cat(out) if out else torch.empty(0)


def _fingerprint(settings: FinetuneTraining, mode: str, base: str, rows: dict[str, list[Any]]) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: everything but how often it logs and saves. The
    epoch count is in: the linear learning-rate schedule decays over all the epochs, so a run with
    another count is a different run, not a continuation. The base is named by its files too, so a
    base replaced at the same path starts over."""
    digest = hashlib.sha256()
    for column in ("chosen_ids", "rejected_ids", "margin"):
        for value in rows[column]:
            digest.update(repr(value).encode())
    kept = {k: v for k, v in asdict(settings).items() if k not in ("logging_steps", "save_steps")}
    if mode != "lora":
        kept = {k: v for k, v in kept.items() if not k.startswith("lora_")}
    fingerprint = {"mode": mode, "base": base_identity(base), "data": digest.hexdigest(), **kept}
    return json.loads(json.dumps(fingerprint))  # as run.json reads back (tuples become lists)


def _last_checkpoint(folder: Path, fingerprint: dict[str, Any]) -> str | None:
    """The newest checkpoint of this very run; checkpoints of a different run are removed."""
    from transformers.trainer_utils import get_last_checkpoint

    run_file = folder / RUN_FILE
    if run_file.exists() and json.loads(run_file.read_text()) != fingerprint:
        changed = "base, data, epoch count or settings"
        log.warning("%s: checkpoints of a different run (%s changed); starting over", folder, changed)
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps(fingerprint, indent=2) + "\n")
    return get_last_checkpoint(str(folder))


def _log_last_step() -> Any:
    """A callback that logs the last, partial logging interval too, before the final checkpoint is
    written, so the reported losses cover every step, also after a resume."""
    from transformers import TrainerCallback

    class LogLastStep(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if state.global_step >= state.max_steps:
                control.should_log = True
            return control

    return LogLastStep()


def _checkpointing_setting(config_class: Any, on: bool) -> dict[str, bool]:
    """Activation checkpointing in the name ``config_class`` takes: transformers 4.x knows only
    ``gradient_checkpointing``; later versions call it ``activation_checkpointing`` and warn on the
    old name. Always given, since TRL's own default turns it on."""
    known = inspect.signature(config_class).parameters
    return {"activation_checkpointing" if "activation_checkpointing" in known else "gradient_checkpointing": on}


def _device_settings() -> dict[str, bool]:
    """bf16 (else fp16) mixed precision and pinned memory on a GPU; plain float32 on a CPU."""
    import torch

    if not torch.cuda.is_available():
        return {"bf16": False, "fp16": False, "dataloader_pin_memory": False}
    bf16 = torch.cuda.is_bf16_supported()
    return {"bf16": bf16, "fp16": not bf16, "dataloader_pin_memory": True}


def run_reward_trainer(
    model: Any,
    rows: dict[str, list[Any]],
    settings: FinetuneTraining,
    mode: FinetuneMode,
    checkpoints: Path,
    *,
    base: str,
    progress: bool,
    callbacks: Sequence[Any] = (),
) -> tuple[Any, list[float]]:
    """Train ``model`` (a rewardkit SequenceClassifierModel) with TRL, resuming from the last
    checkpoint of the same run in ``checkpoints``. Returns the plain trained module (LoRA merged in)
    and the mean loss of each logging interval."""
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import RewardConfig, RewardTrainer
    from trl.trainer.utils import disable_dropout_in_model

    resume = _last_checkpoint(checkpoints, _fingerprint(settings, mode, base, rows))
    module = model.module
    use_cache = getattr(module.config, "use_cache", None)
    module.config.use_cache = False  # no KV cache while training; restored before saving
    disable_dropout_in_model(module)  # the backbone's, as TRL does; LoRA dropout, added later, stays
    read_reward_where_served(model)
    args = RewardConfig(
        output_dir=str(checkpoints),
        num_train_epochs=settings.num_train_epochs,
        learning_rate=settings.learning_rate,
        per_device_train_batch_size=settings.per_device_train_batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        weight_decay=settings.weight_decay,
        center_rewards_coefficient=settings.center_rewards_coefficient or None,
        seed=settings.seed,
        data_seed=settings.seed,
        logging_steps=settings.logging_steps,
        save_strategy="steps",
        save_steps=settings.save_steps,
        save_total_limit=1,
        max_length=None,  # the Templater already truncated, keeping the end where the reward is read
        disable_dropout=False,
        report_to="none",
        disable_tqdm=not progress,
        dataloader_num_workers=0,
        **_checkpointing_setting(RewardConfig, settings.gradient_checkpointing),
        **_device_settings(),
    )
    try:
        trainer = RewardTrainer(
            model=module,
            args=args,
            train_dataset=Dataset.from_dict(rows),
            processing_class=model.tokenizer,
            peft_config=settings.lora_config() if mode == "lora" else None,
            callbacks=[_log_last_step(), *callbacks],
        )
    except ValueError as exc:
        if "target_modules" in str(exc):
            raise InvalidInputError(f"{exc}; name them with --lora-target-modules (or 'all-linear')") from None
        raise
    if not progress:
        trainer.remove_callback(PrinterCallback)
    trainer.train(resume_from_checkpoint=resume)
    losses = [float(entry["loss"]) for entry in trainer.state.log_history if "loss" in entry]
    trained = trainer.model.merge_and_unload() if mode == "lora" else trainer.model
    trained.config.use_cache = use_cache
    return trained, losses
