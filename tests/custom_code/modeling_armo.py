"""ArmoRM-style multi-objective reward model with a gating network (structure of RLHFlow's
``modeling_custom.py``): per-objective rewards from a bias-free regression layer read at the last
attended token, mixed by a softmax gate computed at the last ``config.gating_token_id`` token,
after a fixed ``reward_transform_matrix``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import LlamaModel, LlamaPreTrainedModel
from transformers.utils import ModelOutput


class GatingNetwork(nn.Module):
    def __init__(self, in_features, out_features, *, temperature=10.0, hidden_dim=1024, n_hidden=3):
        super().__init__()
        self.temperature = temperature
        self.logit_scale = nn.Parameter(torch.ones(1))
        layers = []
        for _ in range(n_hidden):
            layers.append(nn.Linear(in_features, hidden_dim))
            in_features = hidden_dim
        layers.append(nn.Linear(in_features, out_features, bias=True))
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return F.softmax(x / self.temperature, dim=1) * self.logit_scale[0]


@dataclass
class CustomOutput(ModelOutput):
    rewards: torch.FloatTensor | None = None
    hidden_state: torch.FloatTensor | None = None
    prompt_embedding: torch.FloatTensor | None = None
    gating_output: torch.FloatTensor | None = None
    score: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None


class LlamaForRewardModelWithGating(LlamaPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.model = LlamaModel(config)
        self.num_objectives = getattr(config, "num_objectives", 19)
        self.regression_layer = nn.Linear(config.hidden_size, self.num_objectives, bias=False)
        self.reward_transform_matrix = nn.Parameter(torch.eye(self.num_objectives), requires_grad=False)
        self.gating = GatingNetwork(
            config.hidden_size,
            self.num_objectives,
            temperature=getattr(config, "gating_temperature", 10.0),
            hidden_dim=getattr(config, "gating_hidden_dim", 1024),
            n_hidden=getattr(config, "gating_n_hidden", 3),
        )
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, **kwargs):
        outputs = self.model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
        )
        tokens_hidden_states = outputs.last_hidden_state  # [B, T, H]
        batch, length = input_ids.shape
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        positions = torch.arange(length, device=input_ids.device).expand(batch, length)
        attended = mask.bool()
        # last attended token (pad-free rule: the last index where the mask is 1)
        last = torch.where(attended, positions, -1).max(dim=1).values
        # gating position: the last attended occurrence of the gating token
        is_gate = attended & (input_ids == self.config.gating_token_id)
        if not bool(is_gate.any(dim=1).all()):
            raise ValueError("gating token not found in a sequence")
        gate = torch.where(is_gate, positions, -1).max(dim=1).values
        rows = torch.arange(batch, device=input_ids.device)
        hidden_states = tokens_hidden_states[rows, last]
        rewards = self.regression_layer(hidden_states)  # [B, K]
        prompt_embedding = tokens_hidden_states[rows, gate]
        gating_output = self.gating(prompt_embedding)  # [B, K]
        rewards_adjusted = rewards @ self.reward_transform_matrix
        score = torch.sum(gating_output * rewards_adjusted, dim=1)  # [B]
        return CustomOutput(
            rewards=rewards,
            hidden_state=hidden_states,
            prompt_embedding=prompt_embedding,
            gating_output=gating_output,
            score=score,
            logits=score,
        )
