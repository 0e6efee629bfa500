"""The async engine path (RewardService -> Engine -> Runner) against the single-sequence reference,
with many concurrent callers so that items of different requests share batches."""

from __future__ import annotations

import asyncio

import pytest
import tiny_models
from test_formats_reference import reference, varied_texts

from rewardkit.config import EngineConfig
from rewardkit.models import load_model
from rewardkit.scoring.service import RewardService

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("name", ["gemma2", "bert", "value_head", "llama_left_pad"])
@pytest.mark.parametrize("budget", [64, 4096])
async def test_concurrent_requests_share_batches_without_changing_scores(checkpoint, name, budget):
    path = checkpoint(name)
    model = load_model(path)
    texts = varied_texts(16, seed=5)
    expected = [reference(name, path, model.tokenizer, tiny_models.reference_ids(model.tokenizer, t)) for t in texts]
    service = RewardService(model, engine_config=EngineConfig(max_batch_tokens=budget, max_wait_ms=20))
    await service.start()
    try:
        singles = asyncio.gather(*[service.score_results([t]) for t in texts[:8]])
        group = service.score_results(texts[8:])
        single_results, group_results = await asyncio.gather(singles, group)
    finally:
        await service.stop()
    got = [r[0].score for r in single_results] + [r.score for r in group_results]
    assert got == pytest.approx(expected, abs=1e-4)


async def test_stopped_engine_refuses_new_work(llama_dir):
    from rewardkit.errors import EngineDeadError

    service = RewardService(load_model(llama_dir))
    await service.start()
    await service.stop()
    assert not service.healthy
    with pytest.raises(EngineDeadError):
        await service.score_results(["late"])


async def test_a_single_string_is_refused_by_both_fronts_not_scored_as_characters(llama_dir):
    from rewardkit.errors import InvalidInputError
    from rewardkit.scoring.model import RewardModel

    model = load_model(llama_dir)
    with pytest.raises(InvalidInputError, match="wrap a single one in a list"):
        RewardModel(model).score("a whole text")
    service = RewardService(model)
    await service.start()
    try:
        with pytest.raises(InvalidInputError, match="wrap a single one in a list"):
            await service.score_results("a whole text")
    finally:
        await service.stop()
