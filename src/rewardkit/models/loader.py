"""Checkpoint folder -> LoadedModel: detect the format, pick device and dtype, load the tokenizer.

The format registry: each format lives in its own module exposing a ``FORMAT`` (a ModelFormat,
models/format.py); adding a format is one module plus one line in ``FORMATS``. Detection first asks
the recipes (models/recipes/: families read as their model card reads them) whether exactly one
fits by config.json, then walks FORMATS in order and takes the first match, then asks the recipes
known only by their name on disk.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rewardkit.config import ModelConfig
from rewardkit.errors import ModelLoadError
from rewardkit.models.base import LoadedModel
from rewardkit.models.checkpoint import Checkpoint
from rewardkit.models.format import Loading, ModelFormat
from rewardkit.models.positions import check_max_length

__all__ = ["FORMATS", "detect_format", "load_model", "open_model", "resolve_device", "resolve_dtype"]


def _formats() -> list[ModelFormat]:
    from rewardkit.models import custom_code, sequence_classifier, token_classifier, v_head, value_head

    # Order matters: value-head checkpoints may also name a *ForSequenceClassification or
    # *ForCausalLM class, and custom classes may name any architecture.
    return [value_head.FORMAT, v_head.FORMAT, custom_code.FORMAT, token_classifier.FORMAT, sequence_classifier.FORMAT]


FORMATS: Callable[[], list[ModelFormat]] = _formats


def detect_format(ckpt: Checkpoint) -> tuple[ModelFormat, str]:
    """The recipe whose family ``ckpt`` is, else the first format that recognises it, and the
    reason; or an error naming what was found."""
    from rewardkit.models.recipes import detect_recipe

    found = detect_recipe(ckpt)
    if found is not None:
        return found
    for fmt in FORMATS():
        reason = fmt.detect(ckpt)
        if reason:
            return fmt, reason
    found = detect_recipe(ckpt, by_name=True)
    if found is not None:
        return found
    supported = "; ".join(f"{f.name}: {f.description}" for f in FORMATS())
    hint = ""
    if any(a.endswith("ForCausalLM") for a in ckpt.architectures):
        hint = (
            " This is a causal LM with no reward head. If its model card reads the reward from its LM head "
            "(Math-Shepherd, RLHFlow PRMs, Nemotron-Reward, a yes/no verifier), load it with --recipe NAME "
            "(`rewardkit recipes` lists them); if it is a pairwise preference model (it answers which of two "
            "responses is better), with --pairwise."
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


def load_tokenizer(ckpt: Checkpoint, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(ckpt.path), trust_remote_code=trust_remote_code)
    except Exception as exc:  # transformers raises many kinds; translate at this one boundary
        raise ModelLoadError(f"{ckpt.path}: could not load a tokenizer: {exc}") from exc


def load_model(path: str | Path, config: ModelConfig | None = None) -> LoadedModel:
    """Load a checkpoint folder as a reward model, in eval mode, on the configured device."""
    from rewardkit.models.recipes import Recipe, check_options, recipe_named

    config = config or ModelConfig()
    ckpt = Checkpoint.open(path)
    if config.pairwise and config.recipe:
        raise ModelLoadError(f"--pairwise and --recipe {config.recipe} exclude each other: pick one reading")
    if config.pairwise:
        from rewardkit.models import pairwise

        fmt, reason = pairwise.FORMAT, "--pairwise was given"
    elif config.recipe:
        fmt, reason = recipe_named(config.recipe), f"--recipe {config.recipe} was given"
    else:
        fmt, reason = detect_format(ckpt)
    check_options(config, fmt)
    if config.enable_prefix_caching and not config.prefix_cache_gib > 0:
        raise ModelLoadError(
            f"--prefix-cache-gib must be above 0 (got {config.prefix_cache_gib}); "
            "pass --no-enable-prefix-caching to run without the cache"
        )
    if config.max_length is not None:  # before any weight is read
        check_max_length(config.max_length, ckpt.config, str(ckpt.path))
    if fmt.runs_custom_code and not config.trust_remote_code:
        raise ModelLoadError(
            f"{ckpt.path}: the checkpoint ships custom model code (auto_map: {ckpt.auto_map}). "
            "Read it, then pass --trust-remote-code (trust_remote_code=True) to run it."
        )
    device = resolve_device(config.device)
    dtype = resolve_dtype(config.dtype, device)
    tokenizer = load_tokenizer(ckpt, trust_remote_code=fmt.runs_custom_code)
    try:
        model = fmt.load(Loading(ckpt, tokenizer, dtype, device, config))
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"{ckpt.path}: loading as {fmt.name} failed: {exc}") from exc
    if config.max_length is not None:
        model.info.max_length = config.max_length
    model.info.detected_by = reason
    if isinstance(fmt, Recipe):
        model.info.recipe, model.info.reading_rule, model.info.card = fmt.name, fmt.rule, fmt.card
    if config.packing:
        caching = config.enable_prefix_caching and not config.batch_invariant
        cache_bytes = int(config.prefix_cache_gib * 2**30) if caching else 0
        try:
            model.enable_packing(fuse=config.fused_forward and not config.compile, prefix_cache_bytes=cache_bytes)
        except ValueError as exc:
            raise ModelLoadError(f"--prefix-cache-gib: {exc}") from None
        if config.enable_prefix_caching and config.batch_invariant and model.packed:
            model.info.prefix_cache = "off: --batch-invariant runs every sequence alone"
    else:
        model.info.packing = "off: --no-packing"
    if config.compile:
        from rewardkit.models.compiling import compile_packed

        model.info.compiled = compile_packed(model)
    return model


def open_model(source: str | Path, config: ModelConfig | None = None) -> LoadedModel:
    """Load what a user named: a checkpoint folder, or "builtin" (assembled into the cache on first use)."""
    from rewardkit.models.builtin import resolve_model_path

    return load_model(resolve_model_path(str(source)), config)
