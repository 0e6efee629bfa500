"""`rewardkit train --head-only` on tiny real models: the loss goes down, the head changes, what is
trained is what is served, resume continues where it stopped, seeds make ensemble members."""

from __future__ import annotations

import json
import random

import pytest
import torch
from typer.testing import CliRunner

from rewardkit import Ensemble, RewardModel
from rewardkit.cli import app
from rewardkit.errors import InvalidInputError
from rewardkit.training.head import HeadTraining
from rewardkit.training.trainer import train_head_only

GOOD = ("helpful", "correct", "thanks", "great")
BAD = ("wrong", "rude", "useless", "awful")
FAST = HeadTraining(num_train_epochs=12, learning_rate=0.05, per_device_train_batch_size=32)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = random.Random(0)
    rows = []
    for i in range(80):
        good = " ".join(rng.choice(GOOD) for _ in range(3))
        bad = " ".join(rng.choice(BAD) for _ in range(rng.randint(1, 5)))
        rows.append({"prompt": f"question {i}?", "chosen": good, "rejected": bad, "margin": 0.1 * (i % 3)})
    path = tmp_path_factory.mktemp("data") / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def conversation(prompt, response):
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


def test_loss_goes_down_and_the_served_model_is_the_trained_one(llama_dir, data, tmp_path):
    report = train_head_only(llama_dir, [data], tmp_path / "rm", training=FAST, test_fraction=0.2, progress=False)
    result = report.seeds[0]
    assert result.losses[-1] < 0.5 * result.losses[0]
    assert report.test_pairs > 0 and result.test["accuracy"] >= 0.9
    assert report.length_baseline is not None
    served = RewardModel.load(tmp_path / "rm")
    before = RewardModel.load(llama_dir)
    assert served.info.format == "hf-sequence-classification"
    assert served.info.normalization == pytest.approx({"mean": result.reward_mean, "std": result.reward_std})
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    convs = [conversation(r["prompt"], text) for r in rows for text in (r["chosen"], r["rejected"])]
    new, old = served.score(convs), before.score(convs)
    assert new != pytest.approx(old, abs=1e-3)  # the head changed
    # the held-out figures were computed from training features; the served model agrees on them
    wins = [new[2 * i] > new[2 * i + 1] for i in range(len(rows))]
    assert sum(wins) / len(wins) >= 0.9
    config = json.loads((tmp_path / "rm" / "config.json").read_text())
    assert config["rewardkit_evaluation"]["held_out"]["accuracy"] == result.test["accuracy"]
    report_file = json.loads((tmp_path / "rm" / "train_report.json").read_text())
    assert report_file["seeds"][0]["losses"] == result.losses


def test_training_features_are_the_served_reward_inputs(llama_dir, data, tmp_path):
    """The mean reward over training responses, computed from cached features at training time, equals
    the mean of what the served checkpoint returns for those responses."""
    report = train_head_only(llama_dir, [data], tmp_path / "rm", training=FAST, test_fraction=0.0, progress=False)
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    convs = [conversation(r["prompt"], text) for r in rows for text in (r["chosen"], r["rejected"])]
    served = RewardModel.load(tmp_path / "rm").score(convs)
    assert sum(served) / len(served) == pytest.approx(report.seeds[0].reward_mean, abs=1e-4)


def test_resume_continues_where_it_stopped(llama_dir, data, tmp_path):
    short = HeadTraining(**{**FAST.__dict__, "num_train_epochs": 4})
    first = train_head_only(llama_dir, [data], tmp_path / "a", training=short, progress=False).seeds[0]
    resumed = train_head_only(llama_dir, [data], tmp_path / "a", training=FAST, progress=False).seeds[0]
    straight = train_head_only(llama_dir, [data], tmp_path / "b", training=FAST, progress=False).seeds[0]
    assert resumed.losses[:4] == first.losses
    assert resumed.losses == pytest.approx(straight.losses, abs=1e-6)
    a = torch.load(tmp_path / "a" / "head_state.pt", weights_only=False)["weight"]
    b = torch.load(tmp_path / "b" / "head_state.pt", weights_only=False)["weight"]
    assert torch.allclose(a, b, atol=1e-6)


def test_more_epochs_continue_the_saved_state_and_fewer_start_afresh(llama_dir, data, tmp_path):
    short = HeadTraining(**{**FAST.__dict__, "num_train_epochs": 4})
    shorter = HeadTraining(**{**FAST.__dict__, "num_train_epochs": 2})
    train_head_only(llama_dir, [data], tmp_path / "a", training=short, progress=False)
    state_file = tmp_path / "a" / "head_state.pt"
    state = torch.load(state_file, weights_only=False)
    state["weight"] = state["weight"] * 3  # marks the saved state: only a run that resumes sees it
    torch.save(state, state_file)
    continued = train_head_only(llama_dir, [data], tmp_path / "a", training=FAST, progress=False).seeds[0]
    straight = train_head_only(llama_dir, [data], tmp_path / "b", training=FAST, progress=False).seeds[0]
    assert continued.losses[:4] == straight.losses[:4]
    assert continued.losses[4] != pytest.approx(straight.losses[4], abs=1e-6)
    fewer = train_head_only(llama_dir, [data], tmp_path / "a", training=shorter, progress=False).seeds[0]
    assert fewer.losses == pytest.approx(straight.losses[:2], abs=1e-6)


def test_changed_data_of_the_same_size_starts_afresh_instead_of_resuming(llama_dir, data, tmp_path):
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    flipped = tmp_path / "flipped.jsonl"
    flipped.write_text(
        "".join(json.dumps({**r, "chosen": r["rejected"], "rejected": r["chosen"]}) + "\n" for r in rows)
    )
    train_head_only(llama_dir, [data], tmp_path / "a", training=FAST, test_fraction=0.0, progress=False)
    reused = train_head_only(llama_dir, [flipped], tmp_path / "a", training=FAST, test_fraction=0.0, progress=False)
    fresh = train_head_only(llama_dir, [flipped], tmp_path / "b", training=FAST, test_fraction=0.0, progress=False)
    assert reused.seeds[0].losses == pytest.approx(fresh.seeds[0].losses, abs=1e-6)


def test_seeds_train_ensemble_members(llama_dir, data, tmp_path):
    report = train_head_only(llama_dir, [data], tmp_path / "ens", training=FAST, seeds=[1, 2], progress=False)
    assert [s.seed for s in report.seeds] == [1, 2]
    assert "seed" not in report.settings and report.settings["learning_rate"] == FAST.learning_rate
    members = [RewardModel.load(tmp_path / "ens" / f"seed-{k}") for k in (1, 2)]
    conv = [conversation("q", "great thanks"), conversation("q", "awful rude")]
    first, second = members[0].score(conv), members[1].score(conv)
    assert first != pytest.approx(second, abs=1e-4)  # different initialization and order
    ensemble = Ensemble(members, ["seed-1", "seed-2"])
    assert ensemble.score(conv) == pytest.approx([(a + b) / 2 for a, b in zip(first, second)], abs=1e-5)


def test_a_causal_lm_base_becomes_a_reward_model(checkpoint, data, tmp_path):
    report = train_head_only(
        checkpoint("pairwise_lm"), [data], tmp_path / "rm", training=FAST, test_fraction=0.2, progress=False
    )
    assert report.seeds[0].losses[-1] < report.seeds[0].losses[0]
    assert RewardModel.load(tmp_path / "rm").info.format == "hf-sequence-classification"


def test_malformed_rows_name_the_file_and_line(llama_dir, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"prompt": "q", "chosen": "a", "rejected": "b"}) + "\n" + '{"prompt": "q", "chosen": 1}\n'
    )
    with pytest.raises(InvalidInputError, match=r"bad\.jsonl:2"):
        train_head_only(llama_dir, [bad], tmp_path / "rm", progress=False)
    result = CliRunner().invoke(app, ["train", str(llama_dir), str(bad), "-o", str(tmp_path / "rm")])
    assert result.exit_code == 2 and "bad.jsonl:2" in result.output


def test_cli_trains_and_reports(llama_dir, data, tmp_path):
    args = ["train", str(llama_dir), str(data), "-o", str(tmp_path / "rm"), "--num-train-epochs", "6"]
    result = CliRunner().invoke(app, [*args, "--learning-rate", "0.05", "--test-fraction", "0.2"])
    assert result.exit_code == 0, result.output
    assert "held-out accuracy" in result.output and "length baseline" in result.output


def test_a_new_base_in_the_same_output_dir_does_not_reuse_old_work(checkpoint, data, tmp_path):
    """A second causal-LM base trained into the same folder gets its own converted base and features."""
    import shutil

    from transformers import AutoModelForCausalLM

    first = checkpoint("pairwise_lm")
    second = tmp_path / "other_lm"
    shutil.copytree(first, second)
    model = AutoModelForCausalLM.from_pretrained(str(second))
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn_like(param))
    model.save_pretrained(str(second))

    train_head_only(first, [data], tmp_path / "rm", training=FAST, progress=False)
    (tmp_path / "rm" / "head_state.pt").unlink()  # a new base is a new run; the old base and caches remain
    reused = train_head_only(second, [data], tmp_path / "rm", training=FAST, progress=False).seeds[0]
    fresh = train_head_only(second, [data], tmp_path / "fresh", training=FAST, progress=False).seeds[0]
    assert reused.losses == pytest.approx(fresh.losses, abs=1e-6)


@pytest.fixture(scope="module")
def alpaca(tmp_path_factory):
    """AlpacaEval annotations whose judge prefers the polite answer, never with certainty."""
    rng = random.Random(1)
    rows = []
    for i in range(40):
        good = " ".join(rng.choice(GOOD) for _ in range(3))
        bad = " ".join(rng.choice(BAD) for _ in range(3))
        strength = rng.choice((0.6, 0.75, 0.9))  # P(good better)
        first, second, preference = (good, bad, 2 - strength) if i % 2 else (bad, good, 1 + strength)
        rows.append({"instruction": f"question {i}?", "output_1": first, "output_2": second, "preference": preference})
    path = tmp_path_factory.mktemp("alpaca") / "annotations.json"
    path.write_text(json.dumps(rows))
    return path, rows


def test_soft_labels_train_on_alpaca_eval_preferences(llama_dir, alpaca, tmp_path):
    path, rows = alpaca
    soft = train_head_only(
        llama_dir, [path], tmp_path / "soft", training=FAST, test_fraction=0.0, progress=False, soft_labels=True
    )
    hard = train_head_only(llama_dir, [path], tmp_path / "hard", training=FAST, test_fraction=0.0, progress=False)
    assert soft.settings["soft_labels"] is True and soft.settings["soft_pairs"] == len(rows)
    assert "soft_labels" not in hard.settings  # off unless asked for
    # the soft loss cannot go below the labels' own entropy; hard labels drive it towards zero
    p = torch.tensor([abs(r["preference"] - 1.5) + 0.5 for r in rows])
    entropy = float(-(p * p.log() + (1 - p) * (1 - p).log()).mean())
    assert soft.seeds[0].losses[-1] >= entropy - 1e-4
    assert soft.seeds[0].losses[-1] < soft.seeds[0].losses[0]
    assert hard.seeds[0].losses[-1] < entropy
    served = RewardModel.load(tmp_path / "soft")
    rewards = served.score(
        [conversation(r["instruction"], text) for r in rows for text in (r["output_1"], r["output_2"])]
    )
    agree = [(rewards[2 * i] > rewards[2 * i + 1]) == (r["preference"] < 1.5) for i, r in enumerate(rows)]
    assert sum(agree) / len(agree) >= 0.9


def test_cli_soft_labels_flag(llama_dir, alpaca, tmp_path):
    args = ["train", str(llama_dir), str(alpaca[0]), "-o", str(tmp_path / "rm"), "--num-train-epochs", "2"]
    result = CliRunner().invoke(app, [*args, "--soft-labels", "--test-fraction", "0"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "rm" / "train_report.json").read_text())
    assert report["settings"]["soft_labels"] is True
