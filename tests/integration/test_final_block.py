"""The built-in model's trainable top on a tiny real Llama: features read at the final MLP's input,
passed through a FinalBlock, give exactly the reward the served model computes, and a trained
update merged into a checkpoint serves exactly what the block computed in training, for any batch
composition, packed or padded."""

from __future__ import annotations

import json

import pytest
import torch

from rewardkit import RewardModel
from rewardkit.errors import ModelLoadError
from rewardkit.models.builtin import read_update, update_path, write_head
from rewardkit.models.final_mlp import final_mlp_input, merge_update
from rewardkit.training.features import pooled_features
from rewardkit.training.final_block import FinalBlock, train_final_block

PROMPT = [{"role": "user", "content": "Name a colour of the sky."}]
TEXTS = ["Blue.", "It is blue on a clear day, " * 6, "Grey when it rains.", "Green?"]
CONVERSATIONS = [[*PROMPT, {"role": "assistant", "content": t}] for t in TEXTS]
CONVERSATIONS.append([{"role": "user", "content": "Hi " * 20}, {"role": "assistant", "content": "Hello."}])


@pytest.fixture(scope="module")
def served(llama_dir):
    return RewardModel.load(llama_dir, dtype="float32")


def mlp_inputs(model, conversations=CONVERSATIONS, templater=None):
    items = templater.encode_conversations(conversations)
    with final_mlp_input(model.packing_backbone()):
        return pooled_features(model, items)


def random_update(block: FinalBlock, seed: int = 1) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name in ("gate_proj", "up_proj", "down_proj"):
            part = getattr(block.mlp, name)
            part.b.copy_(torch.randn(part.b.shape, generator=generator) * 0.3)


def test_the_block_on_final_mlp_inputs_is_the_served_model(served, llama_dir):
    padded = RewardModel.load(llama_dir, dtype="float32", packing=False)
    weight = served.model.head.weight.detach()[0]
    items = served.templater.encode_conversations(CONVERSATIONS)
    pooled = pooled_features(served.model, items)
    for model in (served.model, padded.model):
        inputs = mlp_inputs(model, templater=served.templater)
        assert not torch.allclose(inputs, pooled, atol=1e-2)  # a different state, not the pooled one
        block = FinalBlock(model.packing_backbone(), weight, rank=0)
        torch.testing.assert_close(block.hidden(inputs), pooled, atol=1e-5, rtol=1e-4)
        rewards = block(inputs).tolist()
        for conversation, reward in zip(CONVERSATIONS, rewards, strict=True):
            assert reward == pytest.approx(served.score_messages([conversation])[0], abs=1e-4)
    # the backbone is whole again once the reading is done
    torch.testing.assert_close(pooled_features(served.model, items), pooled, atol=0, rtol=0)


def test_a_merged_update_serves_what_the_block_computed(served, llama_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    block = FinalBlock(served.model.packing_backbone(), served.model.head.weight.detach()[0] * 2, rank=4, alpha=8)
    random_update(block)
    inputs = mlp_inputs(served.model, templater=served.templater)
    with torch.no_grad():
        expected = block(inputs).tolist()
        unchanged = FinalBlock(served.model.packing_backbone(), block.score.detach(), rank=0)(inputs).tolist()
    assert max(abs(a - b) for a, b in zip(expected, unchanged, strict=True)) > 1e-2  # the update matters

    module = AutoModelForSequenceClassification.from_pretrained(str(llama_dir), dtype=torch.float32)
    merge_update(module.base_model, block.update())
    with torch.no_grad():
        module.score.weight.copy_(block.score.detach())
    module.save_pretrained(str(tmp_path / "merged"))
    AutoTokenizer.from_pretrained(str(llama_dir)).save_pretrained(str(tmp_path / "merged"))
    for packing in (True, False):
        merged = RewardModel.load(tmp_path / "merged", dtype="float32", packing=packing)
        alone = [merged.score_messages([c])[0] for c in CONVERSATIONS]
        together = merged.score_messages(list(reversed(CONVERSATIONS)))[::-1]
        assert alone == pytest.approx(expected, abs=1e-4)
        assert together == pytest.approx(expected, abs=1e-4)


def test_training_moves_the_update_and_lowers_the_loss(served):
    inputs = mlp_inputs(served.model, templater=served.templater)
    weight = served.model.head.weight.detach()[0]
    chosen, rejected = inputs[[0, 2, 4, 0]], inputs[[1, 3, 1, 3]]
    target = torch.tensor([1.0, 0.9, 0.8, 1.0])
    block = FinalBlock(served.model.packing_backbone(), weight, rank=2, seed=3)
    losses, saved = train_final_block(
        block, chosen, rejected, target, epochs=30, learning_rate=1e-2, batch_size=2, seed=3, snapshots=(1, 30)
    )
    assert len(losses) == 30 and losses[-1] < losses[0]
    assert set(saved) == {1, 30}
    update = block.update()
    assert float(update["gate_proj.b"].abs().max()) > 0  # the MLP moved, not only the score row
    assert torch.equal(saved[30]["score"], block.score.detach())
    frozen = FinalBlock(served.model.packing_backbone(), weight, rank=2, seed=3)
    for name in ("gate_proj", "up_proj", "down_proj"):  # the base weights stay frozen
        torch.testing.assert_close(getattr(block.mlp, name).base.weight, getattr(frozen.mlp, name).base.weight)


def test_a_head_with_its_update_round_trips_through_the_shipped_files(served, tmp_path):
    inputs = mlp_inputs(served.model, templater=served.templater)
    block = FinalBlock(served.model.packing_backbone(), served.model.head.weight.detach()[0], rank=3, alpha=6)
    random_update(block, seed=5)
    destination = tmp_path / "head.json"
    head = write_head(block.score.detach().flatten().tolist(), 0.5, 2.0, None, destination, update=block.update())
    assert json.loads(destination.read_text()) == head
    assert head["final_mlp_update"]["rank"] == 3 and update_path(destination).is_file()
    again = FinalBlock.from_head(served.model.packing_backbone(), head["score_weight"], read_update(head, destination))
    with torch.no_grad():
        torch.testing.assert_close(again(inputs), block(inputs), atol=1e-6, rtol=1e-6)

    update_path(destination).write_bytes(update_path(destination).read_bytes()[:-4] + b"oops")
    with pytest.raises(ModelLoadError, match="not the update"):
        read_update(head, destination)
    plain = write_head(head["score_weight"], 0.5, 2.0, None, destination)  # a linear head: no update file left
    assert "final_mlp_update" not in plain and read_update(plain, destination) is None
    assert not update_path(destination).exists()


def test_a_backbone_without_a_final_mlp_is_refused():
    with pytest.raises(ValueError, match="Llama-style decoder"), final_mlp_input(torch.nn.Linear(2, 2)):
        pass
