"""The fused Llama-family forward (models/fused_decoder.py) against the transformers modules, one
unpadded sequence at a time, for every layout it claims: GQA, biases on the projections (Qwen2, or
Llama's attention_bias/mlp_bias), Qwen3's per-head query/key norms and explicit head_dim, Llama 3
rope scaling, Mistral; packed with shared prefixes, in shuffled batches, float32 and bfloat16."""

from __future__ import annotations

import random

import pytest
import torch
import transformers as tf
from tiny_models import reference_classifier_score, reference_ids

from rewardkit.models import native_attention
from rewardkit.models.fused_decoder import FusedDecoder, fusable
from rewardkit.models.packing import enable_packing, packed_hidden

COMMON = dict(
    vocab_size=120,
    hidden_size=48,
    num_hidden_layers=3,
    num_attention_heads=6,
    num_key_value_heads=2,
    intermediate_size=80,
    max_position_embeddings=512,
)
LAYOUTS = {
    "llama": lambda: tf.LlamaConfig(**COMMON),
    "llama_biases_rope3": lambda: tf.LlamaConfig(
        **COMMON,
        attention_bias=True,
        mlp_bias=True,
        rope_scaling={
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 32,
        },
    ),
    "qwen2": lambda: tf.Qwen2Config(**COMMON),
    "qwen3": lambda: tf.Qwen3Config(**COMMON, head_dim=16),
    "mistral": lambda: tf.MistralConfig(**COMMON, sliding_window=None),
}


def backbone(name: str, dtype: torch.dtype = torch.float32):
    torch.manual_seed(len(name))
    model = tf.AutoModel.from_config(LAYOUTS[name]()).eval()
    with torch.no_grad():  # biases and norm weights away from their 0/1 initial values
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    return model.to(dtype)


def sequences(seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    prompt = [rng.randrange(3, 120) for _ in range(30)]
    alone = [[rng.randrange(3, 120) for _ in range(rng.randint(2, 70))] for _ in range(6)]
    answers = [prompt + [rng.randrange(3, 120) for _ in range(rng.randint(1, 25))] for _ in range(4)]
    mixed = alone + answers
    rng.shuffle(mixed)
    return mixed


def unpadded_last(model, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        return model(input_ids=torch.tensor([ids]), use_cache=False)[0][0, -1].float()


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_fused_forward_equals_each_sequence_run_alone(name):
    model = backbone(name)
    expected = {tuple(s): unpadded_last(model, s) for seed in range(3) for s in sequences(seed)}
    assert fusable(model) is None and enable_packing(model, 512) is None
    fused = FusedDecoder(model)
    for seed in range(3):
        batch = sequences(seed)
        with torch.inference_mode():
            got = packed_hidden(model, batch, "cpu", fused=fused).float()
        want = torch.stack([expected[tuple(s)] for s in batch])
        assert torch.allclose(got, want, atol=1e-4), (got - want).abs().max()
    # the modules still run as they did (the fused matrices are views of their weights)
    for s in sequences(0)[:3]:
        assert torch.allclose(unpadded_last(model, s), expected[tuple(s)], atol=1e-5)


@pytest.mark.parametrize("prepack", [True, False])
def test_plain_and_prepacked_weights_agree(prepack):
    model = backbone("llama")
    fused = FusedDecoder(model, prepack=prepack and FusedDecoder(backbone("llama")).prepack)
    batch = sequences(5)
    with torch.inference_mode():
        got = packed_hidden(model, batch, "cpu", fused=fused)
    want = torch.stack([unpadded_last(model, s) for s in batch])
    assert torch.allclose(got, want, atol=1e-4)


@pytest.mark.parametrize("name", ["llama", "qwen3"])
def test_bfloat16_stays_within_the_spread_of_the_transformers_forward(name):
    """In bf16 no forward equals float32; the fused one may stray from it no more than the
    transformers modules do (run alone, unpadded) plus a small margin, and less on average."""
    exact = backbone(name)
    half = backbone(name, torch.bfloat16)
    enable_packing(half, 512)
    fused = FusedDecoder(half)
    batch = sequences(7)
    want = torch.stack([unpadded_last(exact, s) for s in batch])
    modules = torch.stack([unpadded_last(half, s) for s in batch])
    with torch.inference_mode():
        got = packed_hidden(half, batch, "cpu", fused=fused).float()
    spread = (modules - want).abs().max()
    assert (got - want).abs().max() <= 2 * spread + 1e-2
    # its residual stream is float32: on the whole it strays less than the all-bf16 modules do
    assert (got - want).abs().mean() < (modules - want).abs().mean()


def test_other_architectures_say_why_they_are_not_fused():
    gemma = tf.AutoModel.from_config(tf.Gemma2Config(**COMMON, head_dim=8))
    assert "gemma2" in fusable(gemma)
    with pytest.raises(ValueError, match="gemma2"):
        FusedDecoder(gemma)


@pytest.mark.parametrize("switch", ["1", "0"])
def test_both_attention_kernels_give_each_sequence_its_scores_and_info_says_which(switch, monkeypatch, checkpoint):
    """The native kernel (default where a C compiler is) and the SDPA loop it falls back to, through a
    whole loaded model: each equals the single-sequence reference, and /info names the one that ran."""
    from rewardkit import RewardModel

    monkeypatch.setenv("REWARDKIT_NATIVE_ATTENTION", switch)
    model = RewardModel.load(checkpoint("llama"), enable_prefix_caching=False)
    if switch == "0":
        assert "SDPA per segment: REWARDKIT_NATIVE_ATTENTION=0" in model.info.packing
    elif native_attention.kernel() is not None:  # built wherever a C compiler is (CI has one)
        assert "native kernel" in model.info.packing
    texts = [f"{'a long shared opening. ' * (i % 4)}question {i}: is it so? " * (1 + i % 3) for i in range(9)]
    path = checkpoint("llama")
    tokenizer = tf.AutoTokenizer.from_pretrained(path)
    expected = [reference_classifier_score(path, reference_ids(tokenizer, t)) for t in texts]
    assert model.score(texts[::-1])[::-1] == pytest.approx(expected, abs=1e-4)
