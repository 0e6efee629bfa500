"""The tiny checkpoints the tests load, by name, each built once into a cache folder.

The folder is keyed by a hash of everything that builds a checkpoint (this file, the tiny_* builders,
custom_code/, the data sample their tokenizers are trained on, and the versions of the libraries that
write them), so a run builds only what none before it built with the same code; an edit to a builder
starts a fresh folder. Parallel workers (pytest-xdist) share it: one builds a checkpoint while the
others wait on its lock. A checkpoint is used only if its files still hash to what was built, so a
test that wrote into one cannot leave it changed for the next. ``REWARDKIT_TEST_CACHE`` moves the
folder (default: .pytest_cache/rewardkit-checkpoints in the repository, which git ignores).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import tiny_custom
import tiny_models
import tiny_pairwise
from filelock import FileLock

__all__ = ["BUILDERS", "CheckpointCache", "default_cache_root"]

HERE = Path(__file__).resolve().parent

BUILDERS: dict[str, Callable[[Path], Path]] = {
    **{arch: (lambda out, a=arch: tiny_models.build_classifier(out, a)) for arch in tiny_models.DECODERS},
    **{arch: (lambda out, a=arch: tiny_models.build_classifier(out, a)) for arch in tiny_models.ENCODERS},
    "llama_no_pad": lambda out: tiny_models.build_classifier(out, "llama", pad=False, seed=1),
    "llama_left_pad": lambda out: tiny_models.build_classifier(out, "llama", padding_side="left", seed=2),
    "llama_multi_label": lambda out: tiny_models.build_classifier(
        out, "llama", seed=3, labels=["helpfulness", "harmlessness", "honesty"]
    ),
    "value_head": lambda out: tiny_models.build_openrlhf_value_head(out),
    "value_head_legacy": lambda out: tiny_models.build_openrlhf_value_head(
        out, prefix="value_head", legacy_config=True
    ),
    "pairwise_lm": lambda out: tiny_pairwise.build_pairwise_lm(out),
    "custom_value_head": lambda out: tiny_custom.build_custom_value_head(out),
    "armo_gating": lambda out: tiny_custom.build_armo_gating(out),
    "qwen2_token_rm": lambda out: tiny_custom.build_qwen2_token_rm(out),
    "qwen2_prm": lambda out: tiny_custom.build_qwen2_prm(out),
    "token_classification_prm": lambda out: tiny_custom.build_token_classification_prm(out),
    "deepspeed_chat_opt": lambda out: tiny_custom.build_deepspeed_chat_opt(out),
    "deepspeed_chat_llama": lambda out: tiny_custom.build_deepspeed_chat_llama(out),
    "trlx_gptj": lambda out: tiny_custom.build_trlx_gptj(out),
}

_INPUTS = [
    Path(__file__),
    HERE / "tiny_models.py",
    HERE / "tiny_custom.py",
    HERE / "tiny_pairwise.py",
    tiny_models.HH,
    *sorted((HERE / "custom_code").glob("*.py")),
]
_LIBRARIES = ("torch", "transformers", "tokenizers", "safetensors")


def builder_key() -> str:
    """A hash of the builders' code and data and of the versions of the libraries that save the files."""
    digest = hashlib.sha256()
    for path in _INPUTS:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for name in _LIBRARIES:
        try:
            digest.update(f"{name}=={version(name)}\0".encode())
        except PackageNotFoundError:
            digest.update(f"{name} missing\0".encode())
    return digest.hexdigest()[:16]


def folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def default_cache_root() -> Path:
    configured = os.environ.get("REWARDKIT_TEST_CACHE")
    return Path(configured) if configured else HERE.parent / ".pytest_cache" / "rewardkit-checkpoints"


class CheckpointCache:
    """``cache.get(name)`` -> the folder of checkpoint ``name``, built on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root / builder_key()
        self.root.mkdir(parents=True, exist_ok=True)
        self.ready: dict[str, Path] = {}

    def get(self, name: str) -> Path:
        if name not in self.ready:
            if name not in BUILDERS:
                raise KeyError(f"no tiny checkpoint named {name!r}; known: {sorted(BUILDERS)}")
            with FileLock(str(self.root / f"{name}.lock")):
                self.ready[name] = self._intact(name) or self._build(name)
        return self.ready[name]

    def _intact(self, name: str) -> Path | None:
        folder, recorded = self.root / name, self.root / f"{name}.sha256"
        if folder.is_dir() and recorded.is_file() and recorded.read_text() == folder_digest(folder):
            return folder
        return None

    def _build(self, name: str) -> Path:
        folder, recorded = self.root / name, self.root / f"{name}.sha256"
        recorded.unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=self.root))
        try:
            built = BUILDERS[name](staging / name)
            built.rename(folder)  # the folder's name is the checkpoint's (ensemble members are named after it)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        recorded.write_text(folder_digest(folder))
        return folder
