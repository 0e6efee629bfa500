"""How many tokens a checkpoint's positions cover, read from its config.json the way vLLM derives
its max model length, and the check that refuses a --max-length above it.

Past that limit a model with learned positions indexes out of its position table (on CUDA a
device-side assert that kills the engine), and a RoPE model silently extrapolates to positions it
never saw in training: neither gives a reward worth having, so the load fails instead. Knows
config dicts only: no torch, no tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rewardkit.errors import ModelLoadError

__all__ = ["POSITION_KEYS", "PositionLimit", "check_max_length", "position_limit"]

POSITION_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "max_sequence_length")
"""The config.json fields architectures name their position limit by (the smallest present wins)."""

NESTED_CONFIGS = ("text_config", "llm_config", "language_config")
"""Where composite (vision-language) configs keep the language model's own fields."""

SCALED_ROPE = ("linear", "dynamic", "yarn")
"""RoPE scalings that stretch the trained positions by their factor (llama3 and longrope already
state the stretched length in max_position_embeddings)."""

OFFSET_POSITIONS = ("roberta", "xlm-roberta", "camembert")
"""Models whose position ids start after the pad id: pad_token_id + 1 table rows are never used."""


@dataclass(frozen=True)
class PositionLimit:
    """The longest input in tokens, and where in config.json it was read (for error messages)."""

    tokens: int
    source: str


def position_limit(config: dict[str, Any]) -> PositionLimit | None:
    """The model's position limit from its config.json, or None when the config names none."""
    for key in NESTED_CONFIGS:
        nested = config.get(key)
        if isinstance(nested, dict) and (limit := position_limit(nested)) is not None:
            return PositionLimit(limit.tokens, f"{key}.{limit.source}")
    found = [(value, key) for key in POSITION_KEYS if _positive_int(value := config.get(key))]
    if not found:
        return None
    tokens, source = min(found)
    scaling = config.get("rope_scaling")
    if isinstance(scaling, dict):
        kind = scaling.get("rope_type", scaling.get("type"))
        factor = scaling.get("factor")
        if kind in SCALED_ROPE and isinstance(factor, (int, float)) and factor > 1:
            original = scaling.get("original_max_position_embeddings")
            base = original if kind == "yarn" and _positive_int(original) else tokens
            tokens, source = int(base * factor), f"{source} with {kind} rope scaling x{factor:g}"
    pad = config.get("pad_token_id")
    if config.get("model_type") in OFFSET_POSITIONS and isinstance(pad, int) and pad >= 0:
        tokens, source = tokens - pad - 1, f"{source} less the {pad + 1} rows before the first position"
    return PositionLimit(tokens, source)


def check_max_length(max_length: int, config: dict[str, Any], where: str) -> None:
    """Refuse a --max-length the model's positions cannot cover (as vLLM refuses --max-model-len)."""
    if max_length < 1:
        raise ModelLoadError(f"{where}: --max-length must be at least 1 token, got {max_length}")
    limit = position_limit(config)
    if limit is not None and max_length > limit.tokens:
        raise ModelLoadError(
            f"{where}: --max-length {max_length} is above the model's position limit of {limit.tokens} tokens "
            f"({limit.source} in config.json); inputs that long would run on positions the model never learned. "
            f"Give --max-length {limit.tokens} or less (or leave it out: the default is the model's own limit)"
        )


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
