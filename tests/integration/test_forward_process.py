"""--forward-process: the model's forward in a spawned child process gives the same scores as the
in-process forward (packed, padded and process-reward formats), a batch that fails in the child
fails only its own items, and a child that dies stops the engine for good (the server then says so
and exits, as for any fatal engine error)."""

from __future__ import annotations

import os
import signal

import pytest
import tiny_models

from rewardkit.config import EngineConfig, ModelConfig
from rewardkit.engine.runner import FatalRunError
from rewardkit.errors import EngineDeadError
from rewardkit.models import load_model
from rewardkit.scoring.service import RewardService
from rewardkit.types import TokenizedItem

pytestmark = pytest.mark.anyio


def services(path, **options):
    """The same model twice: forward in this process, and in a child process (the model handed to
    that service gives its weights up: the child holds them)."""
    config = ModelConfig(**options)
    local = RewardService(load_model(path, config), config, EngineConfig(forward_process=False))
    released = load_model(path, config)
    child = RewardService(released, config, EngineConfig(forward_process=True))
    assert all(p.device.type == "meta" for p in released.module.parameters()) and str(released.device) == "cpu"
    return local, child


@pytest.mark.parametrize(("name", "options"), [("llama", {}), ("qwen2_prm", {"trust_remote_code": True})])
async def test_the_child_scores_what_the_process_itself_scores(checkpoint, name, options):
    """A packed model, and a padded process reward model with its step scores."""
    local, child = services(checkpoint(name), **options)
    texts = [t[: 20 + 9 * i] for i, t in enumerate(tiny_models.hh_texts(12))]
    if name == "qwen2_prm":
        texts = [t.replace(".", ".<extra_0>") + "<extra_0>" for t in texts]
    try:
        await local.start()
        await child.start()
        assert child.info()["forward_process"] and not local.info()["forward_process"]
        want, got = await local.score_results(texts), await child.score_results(texts)
        if name == "llama":  # the same child: a failing batch, then its death
            a_batch_that_fails_in_the_child_fails_there_only(child.forward_process)
            await a_child_that_dies_stops_the_engine_for_good(child)
    finally:
        await child.stop()
        await local.stop()
    assert [r.score for r in got] == [r.score for r in want]
    assert [r.steps for r in got] == [r.steps for r in want]


def a_batch_that_fails_in_the_child_fails_there_only(runner):
    with pytest.raises(RuntimeError, match="index out of range") as failed:
        runner.run([TokenizedItem(input_ids=(10**6,), original_length=1)])
    assert not isinstance(failed.value, FatalRunError)
    assert runner.run([TokenizedItem(input_ids=(5, 6, 7), original_length=3)]).results[0].num_tokens == 3


async def a_child_that_dies_stops_the_engine_for_good(child):
    """A dead child is a fatal engine error: the service is broken for good (the server exits)."""
    assert await child.score(["alive"])
    os.kill(child.forward_process.pid, signal.SIGKILL)
    with pytest.raises(EngineDeadError):
        await child.score(["after the child died"])
    assert not child.healthy and "forward process died" in child.broken
