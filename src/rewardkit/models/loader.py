"""Checkpoint folder -> LoadedModel: detect the format, pick device and dtype, load the tokenizer.

Each format lives in its own module exposing a ``FORMAT`` (a ModelFormat); adding a format is one
module plus one line in ``FORMATS``. Detection walks FORMATS in order and takes the first match.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardkit.config import ModelConfig
from rewardkit.errors import ModelLoadError
from rewardkit.models.base import LoadedModel, ModelInfo
from rewardkit.models.checkpoint import Checkpoint

__all__ = ["FORMATS", "ModelFormat", "assemble", "detect_format", "load_model", "resolve_device", "resolve_dtype"]

MAX_DEFAULT_LENGTH = 8192


@dataclass(frozen=True)
class ModelFormat:
    """One on-disk reward-model layout. ``detect`` returns why a checkpoint matches (for /info), or
    None; ``load`` builds the LoadedModel."""

    name: str
    description: str
    detect: Callable[[Checkpoint], str | None]
    load: Callable[..., LoadedModel]
    runs_custom_code: bool = False


def _formats() -> list[ModelFormat]:
    from rewardkit.models import custom_code, sequence_classifier, token_classifier, v_head, value_head

    # Order matters: value-head checkpoints may also name a *ForSequenceClassification or
    # *ForCausalLM class, and custom classes may name any architecture.
    return [value_head.FORMAT, v_head.FORMAT, custom_code.FORMAT, token_classifier.FORMAT, sequence_classifier.FORMAT]


FORMATS: Callable[[], list[ModelFormat]] = _formats


def detect_format(ckpt: Checkpoint) -> tuple[ModelFormat, str]:
    """The first format that recognises ``ckpt`` and the reason, or an error naming what was found."""
    for fmt in FORMATS():
        reason = fmt.detect(ckpt)
        if reason:
            return fmt, reason
    supported = "; ".join(f"{f.name}: {f.description}" for f in FORMATS())
    hint = ""
    if any(a.endswith("ForCausalLM") for a in ckpt.architectures):
        hint = (
            " This is a causal LM with no reward head; if it is a pairwise preference model (it answers which "
            "of two responses is better), load it with --pairwise."
        )
    raise ModelLoadError(
        f"{ckpt.path}: unsupported reward-model format (architectures={ckpt.architectures or 'none'}, "
        f"model_type={ckpt.config.get('model_type')!r}, auto_map={sorted(ckpt.auto_map) or 'none'}, "
        f"{len(ckpt.tensor_names)} stored tensors).{hint} Supported: {supported}"
    )


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("--device cuda was asked for, but torch sees no CUDA device; use --device cpu")
    return device


def resolve_dtype(dtype: str, device: str) -> Any:
    """'auto' is bfloat16 on a GPU that has it and float32 elsewhere (CPUs without bf16 units run it slowly)."""
    import torch

    if dtype == "auto":
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    except KeyError:
        raise ModelLoadError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16") from None


def load_tokenizer(ckpt: Checkpoint) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(ckpt.path))
    except Exception as exc:  # transformers raises many kinds; translate at this one boundary
        raise ModelLoadError(f"{ckpt.path}: could not load a tokenizer: {exc}") from exc


def pad_token_id(tokenizer: Any) -> tuple[int, bool]:
    """The id used for padding and whether it had to be borrowed (from eos, else 0).

    Padding never reaches the reward: inputs are masked and read at the last real token, so a
    borrowed pad id cannot change a score.
    """
    if tokenizer.pad_token_id is not None:
        return int(tokenizer.pad_token_id), False
    if tokenizer.eos_token_id is not None:
        return int(tokenizer.eos_token_id), True
    return 0, True


def default_max_length(ckpt: Checkpoint, tokenizer: Any) -> int:
    limits = [MAX_DEFAULT_LENGTH]
    for key in ("max_position_embeddings", "n_positions", "max_seq_len"):
        value = ckpt.config.get(key)
        if isinstance(value, int) and value > 0:
            limits.append(value)
    model_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(model_max, int) and 0 < model_max < 1_000_000:
        limits.append(model_max)
    return min(limits)


def assemble(
    model_cls: type[LoadedModel],
    ckpt: Checkpoint,
    fmt: ModelFormat,
    tokenizer: Any,
    *,
    module: Any,
    head: Any,
    dtype: Any,
    device: str,
    head_text: str,
    pooling: str,
    num_labels: int,
    outputs: list[str] | None = None,
    objective: str | None = None,
    steps: dict[str, Any] | None = None,
    **model_kwargs: Any,
) -> LoadedModel:
    """The LoadedModel of a format, with its pad id and the facts /info reports; ``model_kwargs``
    go to the format's own LoadedModel class."""
    pad_id, pad_added = pad_token_id(tokenizer)
    normalization = normalization_stats(ckpt)
    if outputs is None:
        outputs = label_names(ckpt, num_labels)
    info = ModelInfo(
        path=str(ckpt.path),
        format=fmt.name,
        architecture=(ckpt.architectures or [ckpt.config.get("model_type", "?")])[0],
        head=head_text,
        pooling=pooling,
        num_labels=num_labels,
        dtype=str(dtype).replace("torch.", ""),
        device=device,
        max_length=default_max_length(ckpt, tokenizer),
        pad_token=tokenizer.pad_token,
        eos_token=tokenizer.eos_token,
        bos_token=tokenizer.bos_token,
        pad_token_added=pad_added,
        normalization=normalization,
        normalize_by_default=bool(ckpt.config.get("normalize_reward")) and normalization is not None,
        outputs=outputs if len(outputs) > 1 else [],
        objective=objective,
        steps=steps,
        evaluation=evaluation if isinstance(evaluation := ckpt.config.get("rewardkit_evaluation"), dict) else None,
    )
    return model_cls(module=module, head=head, tokenizer=tokenizer, pad_id=pad_id, info=info, **model_kwargs)


def label_names(ckpt: Checkpoint, count: int) -> list[str]:
    """Output names from config.json's id2label (or ``objective_names``), else LABEL_i."""
    names = ckpt.config.get("objective_names")
    if isinstance(names, list) and len(names) == count:
        return [str(n) for n in names]
    id2label = ckpt.config.get("id2label") or {}
    return [str(id2label.get(str(i), id2label.get(i, f"LABEL_{i}"))) for i in range(count)]


def normalization_stats(ckpt: Checkpoint) -> dict[str, float] | None:
    """OpenRLHF's mean/std in config.json, if the checkpoint carries them."""
    mean, std = ckpt.config.get("mean"), ckpt.config.get("std")
    if isinstance(mean, (int, float)) and isinstance(std, (int, float)):
        if std <= 0:
            raise ModelLoadError(f"{ckpt.path}/config.json: std must be positive for normalization, got {std}")
        return {"mean": float(mean), "std": float(std)}
    return None


def load_model(path: str | Path, config: ModelConfig | None = None) -> LoadedModel:
    """Load a checkpoint folder as a reward model, in eval mode, on the configured device."""
    config = config or ModelConfig()
    ckpt = Checkpoint.open(path)
    if config.pairwise:
        from rewardkit.models import pairwise

        fmt, reason = pairwise.FORMAT, "--pairwise was given"
    else:
        fmt, reason = detect_format(ckpt)
    if fmt.runs_custom_code and not config.trust_remote_code:
        raise ModelLoadError(
            f"{ckpt.path}: the checkpoint ships custom model code (auto_map: {ckpt.auto_map}). "
            "Read it, then pass --trust-remote-code (trust_remote_code=True) to run it."
        )
    device = resolve_device(config.device)
    dtype = resolve_dtype(config.dtype, device)
    tokenizer = load_tokenizer(ckpt)
    try:
        model = fmt.load(ckpt, tokenizer=tokenizer, device=device, dtype=dtype, config=config)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"{ckpt.path}: loading as {fmt.name} failed: {exc}") from exc
    if config.max_length is not None:
        model.info.max_length = config.max_length
    model.info.detected_by = reason
    return model
