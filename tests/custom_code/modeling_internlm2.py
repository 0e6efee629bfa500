"""InternLM2 with its reward head, as internlm/internlm2-*-reward ship it behind ``auto_map``
(``AutoModel`` -> InternLM2ForRewardModel): the decoder (RMSNorm; rotary embeddings; grouped-query
attention whose query, key and value come from one packed ``wqkv`` projection laid out per
key/value group as [queries of the group, key, value]; a SwiGLU ``w1``/``w3``/``w2`` MLP), a
bias-free ``v_head`` whose value is read at the last attended token
(``attention_mask.cumsum(1).argmax(1)``), and ``get_score``, which the model card calls: the chat
template as text, encoded without special tokens, the reward token appended, one forward.

A compact rewrite for tiny test checkpoints, same parameter names and arithmetic; kept
dependency-free apart from torch and transformers."""

import math

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPast, SequenceClassifierOutputWithPast

from .configuration_internlm2 import InternLM2Config


class InternLM2RMSNorm(nn.Module):
    def __init__(self, hidden_size, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        dtype = hidden_states.dtype
        hidden_states = hidden_states.float()
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(dtype)


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class InternLM2Attention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // self.num_heads
        self.num_key_value_heads = config.num_key_value_heads
        self.num_key_value_groups = self.num_heads // self.num_key_value_heads
        self.wqkv = nn.Linear(
            config.hidden_size, (self.num_heads + 2 * self.num_key_value_heads) * self.head_dim, bias=config.bias
        )
        self.wo = nn.Linear(self.num_heads * self.head_dim, config.hidden_size, bias=config.bias)

    def forward(self, hidden_states, cos, sin, mask):
        bsz, q_len, _ = hidden_states.shape
        qkv = self.wqkv(hidden_states).view(
            bsz, q_len, self.num_key_value_heads, 2 + self.num_key_value_groups, self.head_dim
        )
        query = qkv[..., : self.num_key_value_groups, :].reshape(bsz, q_len, self.num_heads, self.head_dim)
        key, value = qkv[..., -2, :], qkv[..., -1, :]
        query, key, value = (t.transpose(1, 2) for t in (query, key, value))
        query = query * cos + rotate_half(query) * sin
        key = key * cos + rotate_half(key) * sin
        key = key.repeat_interleave(self.num_key_value_groups, dim=1)
        value = value.repeat_interleave(self.num_key_value_groups, dim=1)
        weights = query @ key.transpose(2, 3) / math.sqrt(self.head_dim) + mask
        weights = weights.softmax(dim=-1, dtype=torch.float32).to(query.dtype)
        out = (weights @ value).transpose(1, 2).reshape(bsz, q_len, -1)
        return self.wo(out)


class InternLM2MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.w1 = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.w3 = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.w2 = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x):
        return self.w2(nn.functional.silu(self.w1(x)) * self.w3(x))


class InternLM2DecoderLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = InternLM2Attention(config)
        self.feed_forward = InternLM2MLP(config)
        self.attention_norm = InternLM2RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.ffn_norm = InternLM2RMSNorm(config.hidden_size, eps=config.rms_norm_eps)

    def forward(self, hidden_states, cos, sin, mask):
        hidden_states = hidden_states + self.attention(self.attention_norm(hidden_states), cos, sin, mask)
        return hidden_states + self.feed_forward(self.ffn_norm(hidden_states))


class InternLM2PreTrainedModel(PreTrainedModel):
    config_class = InternLM2Config
    base_model_prefix = "model"

    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            module.weight.data.normal_(mean=0.0, std=std)
            if module.bias is not None:
                module.bias.data.zero_()
        elif isinstance(module, nn.Embedding):
            module.weight.data.normal_(mean=0.0, std=std)
        elif isinstance(module, InternLM2RMSNorm):
            module.weight.data.fill_(1.0)


class InternLM2Model(InternLM2PreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.tok_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, config.pad_token_id)
        self.layers = nn.ModuleList([InternLM2DecoderLayer(config) for _ in range(config.num_hidden_layers)])
        self.norm = InternLM2RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        bsz, seq_len = input_ids.shape
        device = input_ids.device
        hidden_states = self.tok_embeddings(input_ids)
        head_dim = self.config.hidden_size // self.config.num_attention_heads
        inv_freq = 1.0 / (
            self.config.rope_theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
        )
        freqs = torch.outer(torch.arange(seq_len, device=device, dtype=torch.float32), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(hidden_states.dtype), emb.sin().to(hidden_states.dtype)
        if attention_mask is None:
            attention_mask = torch.ones(bsz, seq_len, dtype=torch.bool, device=device)
        causal = torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()
        allowed = causal[None, None] & attention_mask.bool()[:, None, None, :]
        mask = torch.zeros(allowed.shape, dtype=hidden_states.dtype, device=device)
        mask = mask.masked_fill(~allowed, torch.finfo(hidden_states.dtype).min)
        for layer in self.layers:
            hidden_states = layer(hidden_states, cos, sin, mask)
        return BaseModelOutputWithPast(last_hidden_state=self.norm(hidden_states))


class InternLM2ForRewardModel(InternLM2PreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.model = InternLM2Model(config)
        self.v_head = nn.Linear(config.hidden_size, 1, bias=False)
        self.reward_token_id = config.reward_token_id
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        hidden_states = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        hidden_states = self.v_head(hidden_states)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids, dtype=torch.bool)
        # the end (reward) token's score
        ends = attention_mask.cumsum(dim=1).argmax(dim=1).view(-1, 1)
        reward_scores = torch.gather(hidden_states.squeeze(-1), 1, ends)
        return SequenceClassifierOutputWithPast(logits=reward_scores)

    @torch.no_grad()
    def get_score(self, tokenizer, conversation, **kwargs):
        conversation_str = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=False)
        input_ids = tokenizer.encode(conversation_str, return_tensors="pt", add_special_tokens=False)
        # add the reward token at the end of the input ids
        input_ids = torch.cat([input_ids, torch.tensor([[self.reward_token_id]], dtype=torch.long)], dim=1).to(
            self.device
        )
        attention_mask = torch.ones_like(input_ids, dtype=torch.bool).to(self.device)
        outputs = self.forward(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        return outputs[0].cpu().item()
