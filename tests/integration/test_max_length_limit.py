"""--max-length above the model's position limit is refused at load, naming the limit, for a RoPE
decoder (llama) and a model with learned positions (bert); up to the limit it loads and scores."""

from __future__ import annotations

import pytest

from rewardkit import RewardModel
from rewardkit.config import ModelConfig
from rewardkit.errors import ModelLoadError
from rewardkit.models import load_model


@pytest.mark.parametrize(("name", "limit"), [("llama", 256), ("bert", 128)])
def test_max_length_above_the_position_limit_is_refused_at_load(checkpoint, name, limit):
    folder = checkpoint(name)
    refused = f"--max-length {limit + 1} is above the model's position limit of {limit} tokens"
    with pytest.raises(ModelLoadError, match=refused):
        load_model(folder, ModelConfig(max_length=limit + 1))
    model = RewardModel.load(folder, max_length=limit)
    assert model.model.info.max_length == limit
    assert len(model.score(["word " * (2 * limit)])) == 1  # cut to the limit, scored
