"""Shared fixtures: tiny real checkpoints built once per session, and failure-injecting wrappers."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).parent))

import pytest
import tiny_custom
import tiny_models
import tiny_pairwise

from rewardkit.models.base import LoadedModel

BUILDERS = {
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


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    """checkpoint(name) -> folder of a tiny checkpoint, built on first use."""
    root = tmp_path_factory.mktemp("checkpoints")
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            built[name] = BUILDERS[name](root / name)
        return built[name]

    return get


@pytest.fixture(scope="session")
def llama_dir(checkpoint) -> Path:
    return checkpoint("llama")


@pytest.fixture
def anyio_backend():
    return "asyncio"


class FaultyModel(LoadedModel):
    """Wraps a real model and misbehaves when a marker token is in a batch.

    ``fatal=True`` raises the error a broken CUDA context raises; there is no GPU here, so that one
    failure is simulated. Everything else runs the real model.
    """

    def __init__(
        self,
        inner: LoadedModel,
        *,
        fail_token: int | None = None,
        nan_token: int | None = None,
        fatal: bool = False,
        gate=None,
    ) -> None:
        super().__init__(module=inner.module, tokenizer=inner.tokenizer, pad_id=inner.pad_id, info=inner.info)
        self.inner, self.fail_token, self.nan_token, self.fatal = inner, fail_token, nan_token, fatal
        self.gate = gate  # a threading.Event: forward waits for it (a slow model, without sleeping)
        self.entered = threading.Event()

    def forward(self, input_ids, attention_mask):
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(30)
        ids = input_ids.tolist()
        if self.fail_token is not None and any(self.fail_token in row for row in ids):
            if self.fatal:
                raise RuntimeError("CUDA error: device-side assert triggered")
            raise RuntimeError("boom: injected model failure")
        out = self.inner.forward(input_ids, attention_mask)
        if self.nan_token is not None:
            for row, tokens in enumerate(ids):
                if self.nan_token in tokens:
                    out[row] = float("nan")
        return out
