"""UltraRM-style reward model: a Llama backbone with a bias-free regression head, read at the last
attended token (``attention_mask.cumsum(1).argmax(1)``). Loaded through ``auto_map`` with
``trust_remote_code=True``; kept dependency-free apart from torch and transformers."""

from __future__ import annotations

import torch
from torch import nn
from transformers import LlamaModel, LlamaPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutputWithPast


class LlamaRewardModel(LlamaPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.model = LlamaModel(config)
        self.regression_head = nn.Linear(config.hidden_size, 1, bias=False)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None, **kwargs):
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            use_cache=False,
        )
        hidden_states = outputs.last_hidden_state
        rewards = self.regression_head(hidden_states).squeeze(-1)  # [B, T], a reward per token
        batch, length = rewards.shape
        if attention_mask is None:
            ends = torch.full((batch,), length - 1, dtype=torch.long, device=rewards.device)
        else:
            ends = attention_mask.cumsum(dim=1).argmax(dim=1)
        rewards_at_end = torch.gather(rewards, 1, ends.view(-1, 1))  # [B, 1]
        return SequenceClassifierOutputWithPast(logits=rewards_at_end)
