"""Eurus-RM-7b's shipped class, as its auto_map names it: a Mistral backbone with a bias-free
regression head read at the last attended token (``attention_mask.cumsum(1).argmax(1)``).
Written for the tests; dependency-free apart from torch and transformers."""

from __future__ import annotations

import torch
from torch import nn
from transformers import MistralConfig, MistralModel, PreTrainedModel


class EurusRewardModel(PreTrainedModel):
    config_class = MistralConfig

    def __init__(self, config):
        super().__init__(config)
        self.model = MistralModel(config)
        self.regression_head = nn.Linear(config.hidden_size, 1, bias=False)

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        hidden_states = self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)[0]
        rewards = self.regression_head(hidden_states).squeeze(-1)
        ends = attention_mask.cumsum(dim=1).argmax(dim=1).view(-1, 1)
        return torch.gather(rewards, 1, ends)
