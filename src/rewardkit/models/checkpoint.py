"""Facts about a checkpoint folder read without loading any weights: config, tensor names, files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from rewardkit.errors import ModelLoadError

__all__ = ["Checkpoint", "reward_config"]


@dataclass(frozen=True)
class Checkpoint:
    path: Path

    @classmethod
    def open(cls, path: str | Path) -> Checkpoint:
        p = Path(path).expanduser()
        if not p.is_dir():
            raise ModelLoadError(f"{p}: not a folder. Pass a local checkpoint folder (config.json + weights).")
        if not (p / "config.json").is_file():
            found = ", ".join(sorted(x.name for x in p.iterdir())[:12]) or "nothing"
            raise ModelLoadError(f"{p}: no config.json (found: {found}). A Hugging Face checkpoint folder is needed.")
        return cls(p.resolve())

    @cached_property
    def config(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / "config.json").read_text())
        except json.JSONDecodeError as exc:
            raise ModelLoadError(f"{self.path}/config.json is not valid JSON: {exc}") from exc

    @property
    def architectures(self) -> list[str]:
        return list(self.config.get("architectures") or [])

    @property
    def auto_map(self) -> dict[str, str]:
        return dict(self.config.get("auto_map") or {})

    @cached_property
    def weight_files(self) -> list[Path]:
        files = sorted(self.path.glob("*.safetensors"))
        return files or sorted(self.path.glob("pytorch_model*.bin"))

    @cached_property
    def tensor_names(self) -> frozenset[str]:
        """Names of all stored tensors; read from safetensors headers only (no weights loaded)."""
        from safetensors import safe_open

        names: set[str] = set()
        for f in self.weight_files:
            if f.suffix == ".safetensors":
                with safe_open(str(f), framework="pt") as handle:
                    names.update(handle.keys())
            else:
                import torch

                names.update(torch.load(f, map_location="meta", weights_only=True).keys())
        return frozenset(names)

    def load_tensors(self, names: set[str]) -> dict[str, Any]:
        """Load just the named tensors (e.g. a value head) from wherever they are stored."""
        from safetensors import safe_open

        out: dict[str, Any] = {}
        for f in self.weight_files:
            if f.suffix == ".safetensors":
                with safe_open(str(f), framework="pt") as handle:
                    for name in names & set(handle.keys()):
                        out[name] = handle.get_tensor(name)
            else:
                import torch

                state = torch.load(f, map_location="cpu", weights_only=True)
                out.update({k: v for k, v in state.items() if k in names})
        return out


def reward_config(mean: float, std: float, evaluation: dict[str, Any] | None) -> dict[str, Any]:
    """The config.json keys a trained checkpoint carries: the training-set reward mean/std under
    OpenRLHF's names (so --normalize uses them, off by default) and the held-out figures (/info)."""
    return {"mean": mean, "std": std, "normalize_reward": False, "rewardkit_evaluation": evaluation}
