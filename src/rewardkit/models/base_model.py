"""A base model (checkpoint folder or .gguf file) as a one-label sequence classifier in float32.

Both `rewardkit train` and the built-in model start here, so the backbone the built-in head was
trained on is, bit for bit, the backbone it is served on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rewardkit.errors import ModelLoadError

__all__ = ["base_identity", "classifier_from_base"]

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


def base_identity(base: str | Path) -> str:
    """What names a base for caches and resumes: its resolved path plus the size and modification
    time of its config and weight files, so a base replaced at the same path is not mistaken for
    the old one (a converted copy, cached features or trainer checkpoints are then rebuilt)."""
    path = Path(base).resolve()
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(f for f in path.iterdir() if f.name == "config.json" or f.name.endswith(WEIGHT_SUFFIXES))
    else:
        files = []
    stamps = [f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files]
    return "|".join([str(path), *stamps])


def classifier_from_base(base: str | Path) -> tuple[Any, Any]:
    """(module, tokenizer): ``base`` with a fresh one-label score head, its GGUF weights (if any)
    dequantized, and a pad token (eos when the tokenizer has none) set in the config."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    base = Path(base)
    folder, extra = (base.parent, {"gguf_file": base.name}) if base.suffix == ".gguf" else (base, {})
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the new head is reported MISSING, as it should be
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), **extra)
        module = AutoModelForSequenceClassification.from_pretrained(str(folder), num_labels=1, dtype="float32", **extra)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"cannot build a reward model from {base}: {exc}") from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    module.config.pad_token_id = tokenizer.pad_token_id
    if extra:
        _forget_gguf_quantization(module)
    return module, tokenizer


def _forget_gguf_quantization(module: Any) -> None:
    """GGUF weights arrive dequantized into plain float Linear layers, but transformers still marks
    the model as GGUF-quantized and refuses to save it; the marks are all that is left to drop."""
    module.hf_quantizer = None
    if hasattr(module.config, "quantization_config"):
        del module.config.quantization_config
    if "is_quantized" in vars(module):
        module.is_quantized = False
