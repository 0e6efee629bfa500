"""Rewards from per-token outputs: token-level reward heads (a reward at every token, read at the
last one; Qwen2.5-Math-RM style) and process reward models (two classes per token, the probability
of the 'good' class read at each step separator; Qwen2.5-Math-PRM and TRL's PRMTrainer)."""

from __future__ import annotations

import logging
from typing import Any

from rewardkit.errors import ModelLoadError
from rewardkit.models.base import StepRewards
from rewardkit.models.checkpoint import Checkpoint
from rewardkit.models.pooling import gather_last, step_positions

__all__ = ["TokenLevelReader", "resolve_separator", "separator_warning", "token_reader"]

logger = logging.getLogger(__name__)

QWEN_STEP_TOKEN = "<extra_0>"
TRL_STEP_SEPARATOR = "\n"


def resolve_separator(ckpt: Checkpoint, tokenizer: Any, requested: str | None) -> tuple[str, int]:
    """The step separator text and its single token id: --step-separator, config.json's
    step_separator, <extra_0> when the tokenizer has it, else a newline."""
    text = requested or ckpt.config.get("step_separator")
    if not text:
        vocab = tokenizer.get_vocab()
        text = QWEN_STEP_TOKEN if QWEN_STEP_TOKEN in vocab else TRL_STEP_SEPARATOR
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        raise ModelLoadError(
            f"{ckpt.path}: the step separator {text!r} is {len(ids)} tokens ({ids}) in this tokenizer; a process "
            "reward model reads one token per step. Pass --step-separator with a single-token separator."
        )
    return text, int(ids[0])


def separator_warning(tokenizer: Any, text: str, separator_id: int) -> str | None:
    """A warning when the separator is an ordinary token that merges with neighbouring text.

    Steps are found where the tokenizer emits the separator's own id. TRL tokenizes each step on
    its own and appends the separator ids, so merges never happen in training; in a whole text they
    can (e.g. ".\n" or "\n\n" as one token), and such a step end is then not seen.
    """
    if separator_id in set(getattr(tokenizer, "all_special_ids", ()) or ()):
        return None
    probe = f"First step.{text}Second step:{text}{text}Last step.{text}{text}"
    found = tokenizer.encode(probe, add_special_tokens=False).count(separator_id)
    if found == probe.count(text):
        return None
    logger.warning("step separator %r merges with neighbouring text in this tokenizer", text)
    return (
        f"the separator {text!r} is an ordinary token that this tokenizer merges with neighbouring text "
        f"(found {found} of {probe.count(text)} in a probe); a step end written that way is not seen. Send "
        "steps whose separator tokenizes on its own, or use a special-token separator"
    )


class TokenLevelReader:
    """Turns logits shaped [batch, seq, labels] into rewards; labels is 1 (token-level reward) or 2
    (process reward model: softmax, probability of class 1)."""

    def __init__(self, num_labels: int, separator_id: int | None = None) -> None:
        if num_labels not in (1, 2):
            raise ModelLoadError(
                f"a per-token head with {num_labels} outputs is not a reward head rewardkit knows; expected 1 "
                "(a reward per token) or 2 (a process reward model's bad/good classes)"
            )
        if num_labels == 2 and separator_id is None:
            raise ModelLoadError("a process reward model needs a step separator token")
        self.num_labels = num_labels
        self.separator_id = separator_id

    @property
    def is_process(self) -> bool:
        return self.num_labels == 2

    def __call__(self, logits: Any, input_ids: Any, attention_mask: Any) -> Any:
        if logits.dim() == 2:
            logits = logits.unsqueeze(-1)
        if not self.is_process:
            return gather_last(logits.float(), attention_mask)
        good = logits.float().softmax(dim=-1)[..., 1]
        positions = step_positions(input_ids, attention_mask, int(self.separator_id))  # type: ignore[arg-type]
        steps = [good[row, index].tolist() for row, index in enumerate(positions)]
        return StepRewards(values=gather_last(good, attention_mask).unsqueeze(-1), steps=steps, positions=positions)

    def read_positions(self, ids: Any) -> list[int]:
        """Where a packed forward reads one sequence: each step separator, then its last token."""
        last = len(ids) - 1
        if not self.is_process:
            return [last]
        return [p for p, token in enumerate(ids) if token == self.separator_id] + [last]

    def from_reads(self, logits: Any, reads: list[list[int]]) -> Any:
        """Rewards from the logits at ``read_positions`` of each sequence, stacked [total reads, labels]."""
        if not self.is_process:
            return logits.float()
        good = logits.float().softmax(dim=-1)[:, 1]
        steps, lasts, offset = [], [], 0
        for positions in reads:
            steps.append(good[offset : offset + len(positions) - 1].tolist())
            offset += len(positions)
            lasts.append(offset - 1)
        values = good[lasts].unsqueeze(-1)
        return StepRewards(values=values, steps=steps, positions=[positions[:-1] for positions in reads])

    def describe(self, separator: str | None, tokenizer: Any = None) -> tuple[str, dict[str, Any] | None]:
        """(pooling text, the steps facts for /info)."""
        if not self.is_process:
            return "per-token rewards, read at the last non-padding token", None
        facts = {"separator": separator, "separator_id": self.separator_id, "score": "P(class 1) at each separator"}
        warning = separator_warning(tokenizer, str(separator), int(self.separator_id)) if tokenizer else None
        if warning:
            facts["warning"] = warning
        return "P(good) at each step separator; without one, at the last token", facts


def token_reader(
    ckpt: Checkpoint, tokenizer: Any, num_labels: int, step_separator: str | None
) -> tuple[TokenLevelReader, str, dict[str, Any] | None]:
    """The reader for a per-token head with ``num_labels`` outputs (resolving the step separator of
    a process reward model), its pooling text and its steps facts for /info."""
    separator, separator_id = None, None
    if num_labels == 2:
        separator, separator_id = resolve_separator(ckpt, tokenizer, step_separator)
    reader = TokenLevelReader(num_labels, separator_id)
    pooling, steps = reader.describe(separator, tokenizer)
    return reader, pooling, steps
