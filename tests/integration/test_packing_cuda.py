"""The packed path on a GPU: the same exactness checks as on the CPU, for fp32 (one SDPA per segment)
and bf16 (varlen flash attention, one call per layer). Skipped where torch sees no CUDA device."""

from __future__ import annotations

import pytest
import tiny_models
import torch
from batch_checks import varied_texts

from rewardkit import RewardModel

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def shared_and_unshared(tok) -> list[list[int]]:
    prompt = tiny_models.hh_texts(2)[1][:300]
    texts = [prompt + " " + t[:80] for t in tiny_models.hh_texts(10)[2:10]] + varied_texts(8, seed=5)
    return texts


@pytest.mark.parametrize(("dtype", "tolerance"), [("float32", 1e-4), ("bfloat16", 3e-2)])
def test_packed_scores_on_cuda_equal_each_sequence_run_alone(checkpoint, dtype, tolerance):
    model = RewardModel.load(checkpoint("llama"), device="cuda", dtype=dtype)
    assert model.model.packed
    texts = shared_and_unshared(model.model.tokenizer)
    alone = [model.score([t])[0] for t in texts]  # one sequence: nothing packed beside it or shared
    together = model.score(texts)
    assert together == pytest.approx(alone, abs=tolerance)
    padded = RewardModel.load(checkpoint("llama"), device="cuda", dtype=dtype, packing=False)
    assert padded.score(texts) == pytest.approx(alone, abs=tolerance)


@pytest.mark.parametrize(("dtype", "tolerance"), [("float32", 1e-4), ("bfloat16", 3e-2)])
def test_process_reward_steps_on_cuda_equal_each_sequence_run_alone(checkpoint, dtype, tolerance):
    from test_packing import shared_step_texts

    model = RewardModel.load(checkpoint("token_classification_prm"), device="cuda", dtype=dtype)
    assert model.model.packed
    texts = shared_step_texts("\n")
    alone = [list(model.score_results([t])[0].steps) for t in texts]
    together = [list(r.steps) for r in model.score_results(texts)]
    assert together == [pytest.approx(a, abs=tolerance) for a in alone]


def test_compiled_on_cuda_equals_eager(checkpoint):
    eager = RewardModel.load(checkpoint("llama"), device="cuda", dtype="bfloat16")
    compiled = RewardModel.load(checkpoint("llama"), device="cuda", dtype="bfloat16", compile=True)
    texts = shared_and_unshared(eager.model.tokenizer)
    assert compiled.score(texts) == pytest.approx(eager.score(texts), abs=3e-2)
