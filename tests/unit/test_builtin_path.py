"""The assembled built-in model's folder is named by what went into it: the shipped head and the
transformers release that converted the GGUF, so neither a new head nor a new transformers reuses a
folder assembled before it."""

from __future__ import annotations

import hashlib
from importlib.metadata import version

from rewardkit.models.builtin import HEAD_FILE, builtin_path


def test_the_folder_is_keyed_by_the_head_and_the_transformers_release(monkeypatch, tmp_path):
    monkeypatch.setenv("REWARDKIT_CACHE", str(tmp_path))
    path = builtin_path()
    digest = hashlib.sha256(HEAD_FILE.read_bytes()).hexdigest()[:12]
    assert path.parent == tmp_path / "builtin"
    assert path.name == f"smollm2-135m-instruct-{digest}-transformers-{version('transformers')}"
