"""Shared fixtures: tiny real checkpoints (built once, kept in a cache folder: checkpoints.py), and
failure-injecting wrappers.

Each test process computes on one thread (children inherit it through OMP_NUM_THREADS): the models
here are tiny, a second thread only adds synchronisation, and on a small shared machine a thread
waiting for a busy core costs more than the work; pytest-xdist (`-n 2`) is how the suite uses two
cores."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).parent))

import pytest
import torch
from checkpoints import CheckpointCache, default_cache_root

from rewardkit.models.base import LoadedModel

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))  # in case torch was imported before the line above


RAY_MODULES = ("test_ray_bulk.py", "test_bulk_kill.py", "test_ray_serve.py")
"""The modules that start Ray clusters: under pytest-xdist they run on one worker, one after another."""


def _order(item) -> int:
    if item.path.name in RAY_MODULES:
        return 0
    return 1 if item.path.parent.name == "e2e" else 2


def pytest_collection_modifyitems(config, items):
    """The longest tests first (Ray's, then the other real servers'), so that with ``-n 2`` the
    other worker works through the short ones meanwhile; the order is otherwise kept."""
    items.sort(key=_order)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """With ``-n N`` (pytest-xdist): each test module runs whole on one worker (its module fixtures,
    servers included, are set up once), the Ray modules together on one worker, in collection order.
    (xdist_group marks would say the same, but ``--dist loadgroup`` does not group on pytest 9.2:
    pytest-xdist issue 1386.)"""
    if config.getvalue("dist") != "load":  # another --dist asked for explicitly: that one
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModulesAndRay(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "ray" if module.rsplit("/", 1)[-1] in RAY_MODULES else module

    config.option.loadscopereorder = False
    return ModulesAndRay(config, log)


@pytest.fixture(scope="session")
def checkpoint():
    """checkpoint(name) -> folder of a tiny checkpoint, built on first use (checkpoints.py: the cache)."""
    return CheckpointCache(default_cache_root()).get


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
