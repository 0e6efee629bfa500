"""The model's position limit as vLLM derives it from config.json: the smallest named limit, RoPE
scalings that stretch it, a language model's nested config, RoBERTa's offset positions."""

from __future__ import annotations

import pytest

from rewardkit.errors import ModelLoadError
from rewardkit.models.positions import check_max_length, position_limit


@pytest.mark.parametrize(
    ("config", "tokens"),
    [
        ({"max_position_embeddings": 4096}, 4096),
        ({"n_positions": 1024, "max_position_embeddings": 2048}, 1024),
        ({"max_position_embeddings": 4096, "rope_scaling": {"rope_type": "linear", "factor": 2.0}}, 8192),
        (
            {
                "max_position_embeddings": 32768,
                "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768},
            },
            131072,
        ),
        ({"max_position_embeddings": 131072, "rope_scaling": {"rope_type": "llama3", "factor": 8.0}}, 131072),
        ({"model_type": "roberta", "max_position_embeddings": 514, "pad_token_id": 1}, 512),
        ({"model_type": "gemma3", "text_config": {"max_position_embeddings": 8192}}, 8192),
        ({"hidden_size": 32}, None),
    ],
)
def test_the_position_limit_of_a_config(config, tokens):
    limit = position_limit(config)
    assert (limit.tokens if limit else None) == tokens


def test_a_max_length_above_the_limit_names_the_limit_and_where_it_comes_from():
    check_max_length(256, {"max_position_embeddings": 256}, "ckpt")
    refused = r"ckpt: --max-length 257 is above .* 256 tokens \(max_position_embeddings"
    with pytest.raises(ModelLoadError, match=refused):
        check_max_length(257, {"max_position_embeddings": 256}, "ckpt")
    with pytest.raises(ModelLoadError, match="at least 1"):
        check_max_length(0, {}, "ckpt")
    check_max_length(10**6, {}, "a config that names no limit")
