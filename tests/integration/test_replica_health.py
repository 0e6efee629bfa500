"""The Ray Serve replica's check_health (what Ray's controller calls to decide on a replacement):
it passes while the engine serves and raises once a fatal error has broken it. The replica class is
used as Ray Serve uses it, on an app whose model raises the error a broken CUDA context raises."""

from __future__ import annotations

import pytest
from conftest import FaultyModel
from serving import serving_app

from rewardkit.config import EngineConfig, EnsembleConfig, ModelConfig, RewardsConfig, ServerConfig
from rewardkit.models import load_model
from rewardkit.serving import build
from rewardkit.serving.ray import RewardkitReplica

pytestmark = pytest.mark.anyio


async def test_check_health_raises_once_the_engine_is_broken_so_ray_replaces_the_replica(llama_dir):
    model = load_model(llama_dir)
    configs = (ModelConfig(), EngineConfig(), ServerConfig(), EnsembleConfig(), RewardsConfig())
    replica = RewardkitReplica([str(llama_dir)], configs)
    replica.check_health()  # before its app is built: nothing to say yet
    replica.served = build(FaultyModel(model, fail_token=model.tokenizer.convert_tokens_to_ids("</s>"), fatal=True))
    async with serving_app(replica.served) as client:
        fine = await client.post("/get_reward", json={"query": ["fine"]})
        replica.check_health()
        fatal = await client.post("/get_reward", json={"query": ["kill </s>"]})
        with pytest.raises(RuntimeError, match=r"cannot serve again: .*CUDA error"):
            replica.check_health()
    assert fine.status_code == 200 and fatal.status_code == 503
