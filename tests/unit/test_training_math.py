"""The Bradley-Terry loss by hand, and the held-out split."""

from __future__ import annotations

import math

import pytest
import torch

from rewardkit.training.losses import bradley_terry_loss
from rewardkit.training.pairs import TrainingPair, split_pairs


def test_loss_by_hand_with_margin_and_centering():
    chosen, rejected = torch.tensor([2.0, 0.5]), torch.tensor([1.0, 1.5])
    plain = (math.log1p(math.exp(-1.0)) + math.log1p(math.exp(1.0))) / 2
    assert float(bradley_terry_loss(chosen, rejected)) == pytest.approx(plain)
    margin = torch.tensor([0.5, 0.0])
    with_margin = (math.log1p(math.exp(-0.5)) + math.log1p(math.exp(1.0))) / 2
    assert float(bradley_terry_loss(chosen, rejected, margin)) == pytest.approx(with_margin)
    centered = plain + 0.1 * ((3.0**2 + 2.0**2) / 2)
    assert float(bradley_terry_loss(chosen, rejected, center_rewards_coefficient=0.1)) == pytest.approx(centered)


def test_split_is_stable_and_depends_only_on_content():
    pairs = [TrainingPair([{"role": "user", "content": f"q{i}"}], f"good {i}", f"bad {i}") for i in range(400)]
    train, test = split_pairs(pairs, 0.25)
    _, again_test = split_pairs(list(reversed(pairs)), 0.25)
    assert {p.key() for p in test} == {p.key() for p in again_test}
    assert len(train) + len(test) == 400 and 60 < len(test) < 140
    assert split_pairs(pairs, 0.0)[1] == []
    with pytest.raises(ValueError):
        split_pairs(pairs, 1.0)


def test_soft_label_loss_is_the_cross_entropy_with_the_label():
    chosen, rejected = torch.tensor([2.0, 0.5]), torch.tensor([1.0, 1.5])
    target = torch.tensor([0.75, 0.6])

    def softplus(x: float) -> float:
        return math.log1p(math.exp(x))

    # -[t log s(g) + (1 - t) log s(-g)] with -log s(g) = softplus(-g)
    expected = (0.75 * softplus(-1.0) + 0.25 * softplus(1.0) + 0.6 * softplus(1.0) + 0.4 * softplus(-1.0)) / 2
    assert float(bradley_terry_loss(chosen, rejected, target=target)) == pytest.approx(expected)
    hard = bradley_terry_loss(chosen, rejected, target=torch.ones(2))
    assert float(hard) == pytest.approx(float(bradley_terry_loss(chosen, rejected)))


def test_a_soft_label_pulls_the_reward_gap_to_its_logit():
    """Trained on one pair with label p, the head's reward gap settles at logit(p), not at infinity."""
    from rewardkit.training.head import HeadTraining, train_head

    chosen, rejected = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    settings = HeadTraining(num_train_epochs=3000, learning_rate=0.01, per_device_train_batch_size=1)
    weight, _ = train_head(chosen, rejected, torch.zeros(1), settings, target=torch.tensor([0.8]))
    gap = float((chosen - rejected) @ weight.T)
    assert gap == pytest.approx(math.log(0.8 / 0.2), abs=0.05)
