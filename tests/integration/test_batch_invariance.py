"""--batch-invariant: a text's score is bit-identical (==, not approx) whatever it is batched with,
through RewardModel's batches and through the server's engine under concurrency, packed or padded."""

from __future__ import annotations

import asyncio
import random

import pytest
from batch_checks import varied_texts
from serving import serving

from rewardkit import RewardModel
from rewardkit.config import ModelConfig
from rewardkit.models import load_model

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("name", ["llama", "gemma2", "value_head", "bert"])
def test_scores_are_bit_identical_in_any_batch(checkpoint, name):
    model = RewardModel.load(checkpoint(name), batch_invariant=True)
    assert model.info.batch_invariant
    texts = varied_texts(16, seed=7)
    alone = [model.score([t])[0] for t in texts]
    rng = random.Random(3)
    for budget in (40, 300, 100_000):
        model.max_batch_tokens = budget
        order = list(range(len(texts)))
        rng.shuffle(order)
        got = model.score([texts[i] for i in order])
        assert [got[p] for p in range(len(order))] == [alone[i] for i in order], budget


async def test_the_server_gives_bit_identical_scores_under_concurrency(checkpoint):
    model = load_model(checkpoint("llama"), ModelConfig(batch_invariant=True))
    texts = varied_texts(24, seed=8)
    async with serving(model, ModelConfig(batch_invariant=True)) as c:
        alone = [(await c.post("/get_reward", json={"query": [t]})).json()["rewards"][0] for t in texts]
        groups = [texts[i : i + 5] for i in range(0, len(texts), 5)]
        answers = await asyncio.gather(*(c.post("/get_reward", json={"query": g}) for g in groups))
        info = (await c.get("/info")).json()
    together = [r for a in answers for r in a.json()["rewards"]]
    assert together == alone and info["batch_invariant"] is True
