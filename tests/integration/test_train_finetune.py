"""`rewardkit train --use-peft | --full` on tiny real models: the loss goes down, the right weights
change, what is trained is what is served (with a tokenizer whose pad token is its eos token, where
pad-id pooling reads the wrong token), an interrupted run resumes where it stopped, and the command
line picks modes and refuses flags the mode does not use."""

from __future__ import annotations

import inspect
import json
import logging
import random
import shutil
import warnings
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import TrainerCallback
from typer.testing import CliRunner

from rewardkit import RewardModel
from rewardkit.cli import app
from rewardkit.errors import InvalidInputError
from rewardkit.training.finetune import FinetuneTraining, train_finetune
from rewardkit.training.trainer import pair_conversations, read_training_data

GOOD = ("helpful", "correct", "thanks", "great")
BAD = ("wrong", "rude", "useless", "awful")
# every template turn ends with <|im_end|>, which is also the pad token: the last real token is a pad id
PAD_IS_EOS_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>{% endfor %}"
)


def fast(mode, **changes):
    settings = dict(num_train_epochs=3, per_device_train_batch_size=8, logging_steps=2, save_steps=1000)
    return FinetuneTraining.for_mode(mode, learning_rate=5e-3 if mode == "lora" else 2e-3, **{**settings, **changes})


def write_pairs(path, n, seed=0):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        good = " ".join(rng.choice(GOOD) for _ in range(3))
        bad = " ".join(rng.choice(BAD) for _ in range(rng.randint(1, 5)))
        rows.append({"prompt": f"question {i}?", "chosen": good, "rejected": bad, "margin": 0.1 * (i % 3)})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models train fastest on one thread, and a second one only contends with whatever else
    runs on a small machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_pairs(tmp_path_factory.mktemp("data") / "pairs.jsonl", 48)


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    return write_pairs(tmp_path_factory.mktemp("data") / "small.jsonl", 16, seed=1)


@pytest.fixture(scope="module")
def pad_is_eos(checkpoint, tmp_path_factory):
    """The tiny llama reward model with SmolLM2's trap: pad == eos == <|im_end|>, ending every text."""
    from transformers import AutoConfig, AutoTokenizer

    folder = tmp_path_factory.mktemp("pad_is_eos") / "llama"
    shutil.copytree(checkpoint("llama"), folder)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    tokenizer.eos_token = tokenizer.pad_token = "<|im_end|>"
    tokenizer.chat_template = PAD_IS_EOS_TEMPLATE
    tokenizer.save_pretrained(str(folder))
    config = AutoConfig.from_pretrained(str(folder))
    config.pad_token_id = config.eos_token_id = tokenizer.pad_token_id
    config.save_pretrained(str(folder))
    return folder


def weights(folder):
    return load_file(str(folder / "model.safetensors"))


@pytest.mark.parametrize("mode", ["lora", "full"])
def test_loss_goes_down_weights_change_and_the_served_model_is_the_trained_one(mode, pad_is_eos, data, tmp_path):
    out = tmp_path / "rm"
    report = train_finetune(pad_is_eos, [data], out, mode=mode, training=fast(mode), test_fraction=0.25, progress=False)
    result = report.seeds[0]
    assert report.mode == mode and report.settings["learning_rate"] == fast(mode).learning_rate
    assert "seed" not in report.settings  # each seed's own is in its result
    assert any(key.startswith("lora_") for key in report.settings) == (mode == "lora")
    assert result.losses[-1] < 0.5 * result.losses[0]
    assert report.test_pairs > 0 and result.test["accuracy"] >= 0.9

    before, after = weights(pad_is_eos), weights(out)
    changed = {name for name in before if not torch.allclose(before[name], after[name])}
    assert "score.weight" in changed
    if mode == "full":
        assert {"model.embed_tokens.weight", "model.layers.0.mlp.down_proj.weight"} <= changed
    else:  # peft's default LoRA targets for llama, merged into the plain weights; the rest is the base
        assert {"model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.v_proj.weight"} <= changed
        assert not any("mlp" in name or "embed" in name or "k_proj" in name for name in changed)
    assert not any("lora" in name for name in after)  # a plain checkpoint, adapters merged

    # the rewards the trainer computed (config mean/std) are the rewards the served checkpoint returns
    served = RewardModel.load(out)
    assert served.info.format == "hf-sequence-classification"
    assert served.info.normalization == pytest.approx({"mean": result.reward_mean, "std": result.reward_std})
    train = read_training_data([data], 0.25).train
    scores = torch.tensor(served.score(pair_conversations(train)))
    assert float(scores.mean()) == pytest.approx(result.reward_mean, abs=1e-4)
    assert float(scores.std()) == pytest.approx(result.reward_std, abs=1e-4)
    config = json.loads((out / "config.json").read_text())
    assert config["normalize_reward"] is False
    assert config["rewardkit_evaluation"]["held_out"] == result.test
    assert config["rewardkit_evaluation"]["length_baseline"] == report.length_baseline
    assert json.loads((out / "train_report.json").read_text())["seeds"][0]["losses"] == result.losses


def test_pad_id_pooling_would_read_another_token(pad_is_eos, data):
    """The trap is real: transformers' own pooling on padded batches disagrees with serving here, so
    the test above tells the two apart."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(pad_is_eos))
    convs = pair_conversations(read_training_data([data], 0.0).train[:4])
    batch = tokenizer.apply_chat_template(convs, padding=True, return_tensors="pt", return_dict=True)
    assert (batch["input_ids"][:, -1] == tokenizer.pad_token_id).all()
    module = AutoModelForSequenceClassification.from_pretrained(str(pad_is_eos)).eval()
    with torch.no_grad():
        own = module(**batch).logits.flatten().tolist()
    assert own != pytest.approx(RewardModel.load(pad_is_eos).score(convs), abs=1e-3)


class Interrupt(Exception):
    pass


class StopAt(TrainerCallback):
    """Fails right after the checkpoint at ``step`` is written, as a killed job would."""

    def __init__(self, step):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Interrupt


class Steps(TrainerCallback):
    def __init__(self):
        self.seen = []

    def on_step_end(self, args, state, control, **kwargs):
        self.seen.append(state.global_step)


def test_a_rerun_resumes_where_the_interrupted_run_stopped(llama_dir, small_data, tmp_path):
    # 16 pairs, 4 per batch: 4 steps an epoch, 8 in all; a checkpoint every 2 steps
    settings = fast("full", num_train_epochs=2, per_device_train_batch_size=4, logging_steps=1, save_steps=2)
    run = dict(mode="full", training=settings, test_fraction=0.0, progress=False)
    with pytest.raises(Interrupt):
        train_finetune(llama_dir, [small_data], tmp_path / "a", callbacks=[StopAt(4)], **run)
    steps = Steps()
    resumed = train_finetune(llama_dir, [small_data], tmp_path / "a", callbacks=[steps], **run).seeds[0]
    assert steps.seen == [5, 6, 7, 8]
    straight = train_finetune(llama_dir, [small_data], tmp_path / "b", **run).seeds[0]
    assert len(resumed.losses) == 8
    assert resumed.losses == pytest.approx(straight.losses, abs=1e-5)
    assert resumed.reward_mean == pytest.approx(straight.reward_mean, abs=1e-5)
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.allclose(a[name], b[name], atol=1e-5) for name in a)
    # a rerun of the finished run trains nothing and reports the same
    idle = Steps()
    again = train_finetune(llama_dir, [small_data], tmp_path / "a", callbacks=[idle], **run).seeds[0]
    assert idle.seen == [] and again.losses == resumed.losses


def test_a_rerun_with_another_epoch_count_starts_over(llama_dir, small_data, tmp_path, caplog):
    """The learning rate decays linearly over all the epochs, so a finished run is no start for
    another count: fewer epochs would find a later checkpoint and train nothing, more would resume a
    schedule already decayed. Either starts over, with a warning, and ends as a straight run does."""
    # 16 pairs, 4 per batch: 4 steps an epoch
    settings = fast("full", num_train_epochs=2, per_device_train_batch_size=4, logging_steps=1)
    run = dict(mode="full", test_fraction=0.0, progress=False)
    train_finetune(llama_dir, [small_data], tmp_path / "a", training=settings, **run)
    for epochs in (1, 3):
        steps, changed = Steps(), replace(settings, num_train_epochs=epochs)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="rewardkit.training.trl_trainer"):
            rerun = train_finetune(llama_dir, [small_data], tmp_path / "a", training=changed, callbacks=[steps], **run)
        assert steps.seen == list(range(1, 4 * epochs + 1))
        assert "checkpoints of a different run" in caplog.text
    straight = train_finetune(llama_dir, [small_data], tmp_path / "b", training=changed, **run)
    assert rerun.seeds[0].losses == pytest.approx(straight.seeds[0].losses, abs=1e-5)


def test_a_base_replaced_at_the_same_path_starts_over(llama_dir, small_data, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(llama_dir, base)
    settings = fast("full", num_train_epochs=1, per_device_train_batch_size=4, logging_steps=1)
    run = dict(mode="full", training=settings, test_fraction=0.0, progress=False)
    train_finetune(base, [small_data], tmp_path / "rm", **run)
    tensors = {name: value + 0.05 * torch.randn_like(value) for name, value in weights(base).items()}
    save_file(tensors, str(base / "model.safetensors"), metadata={"format": "pt"})
    steps = Steps()
    rerun = train_finetune(base, [small_data], tmp_path / "rm", callbacks=[steps], **run).seeds[0]
    assert steps.seen == [1, 2, 3, 4]
    fresh = train_finetune(base, [small_data], tmp_path / "fresh", **run).seeds[0]
    assert rerun.losses == pytest.approx(fresh.losses, abs=1e-5)


class Checkpointing(TrainerCallback):
    def __init__(self):
        self.on = []

    def on_train_begin(self, args, state, control, **kwargs):
        self.on.append(args.gradient_checkpointing)


def knowing_only_gradient_checkpointing(config_class):
    """A stand-in for a config of transformers 4.x, which has no activation_checkpointing yet."""

    def config(*, gradient_checkpointing=True, **settings):
        if "activation_checkpointing" in settings:
            raise TypeError("__init__() got an unexpected keyword argument 'activation_checkpointing'")
        known = inspect.signature(config_class).parameters  # the installed one's name for it
        name = "activation_checkpointing" if "activation_checkpointing" in known else "gradient_checkpointing"
        return config_class(**settings, **{name: gradient_checkpointing})

    return config


@pytest.mark.parametrize("transformers_version", ["installed", "4.x"])
def test_gradient_checkpointing_reaches_the_trainer_by_the_name_it_knows(
    transformers_version, llama_dir, small_data, tmp_path, monkeypatch
):
    import trl

    if transformers_version == "4.x":
        monkeypatch.setattr(trl, "RewardConfig", knowing_only_gradient_checkpointing(trl.RewardConfig))
    seen = Checkpointing()
    run = dict(mode="lora", test_fraction=0.0, progress=False, callbacks=[seen])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for on in (True, False):
            training = fast("lora", num_train_epochs=1, gradient_checkpointing=on)
            train_finetune(llama_dir, [small_data], tmp_path / f"rm-{on}", training=training, **run)
    assert seen.on == [True, False]
    assert not [w for w in caught if "`gradient_checkpointing` is deprecated" in str(w.message)]


def test_malformed_rows_name_the_file_and_line(llama_dir, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"prompt": "q", "chosen": "a", "rejected": "b"}) + "\n" + '{"prompt": "q", "chosen": 1}\n'
    )
    with pytest.raises(InvalidInputError, match=r"bad\.jsonl:2"):
        train_finetune(llama_dir, [bad], tmp_path / "rm", mode="lora", progress=False)
    result = CliRunner().invoke(app, ["train", str(llama_dir), str(bad), "-o", str(tmp_path / "rm"), "--full"])
    assert result.exit_code == 2 and "bad.jsonl:2" in result.output


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--use-peft", "--full"], "--use-peft and --full are different training modes"),
        (["--head-only", "--use-peft"], "--head-only and --use-peft are different training modes"),
        (["--lora-r", "8"], "--lora-r applies to LoRA training (--use-peft) only"),
        (["--full", "--lora-target-modules", "q_proj"], "--lora-target-modules applies to LoRA training"),
        (["--gradient-accumulation-steps", "2"], "--gradient-accumulation-steps applies to --use-peft and --full"),
        (["--head-only", "--save-steps", "5"], "--save-steps applies to --use-peft and --full"),
        (["--seeds", "1,2,1"], "--seeds names 1 more than once"),
        (["--full", "--seeds", "3, 3"], "--seeds names 3 more than once"),
    ],
)
def test_cli_refuses_conflicting_flags(llama_dir, small_data, tmp_path, flags, message):
    result = CliRunner().invoke(app, ["train", str(llama_dir), str(small_data), "-o", str(tmp_path / "rm"), *flags])
    assert result.exit_code == 2 and message in " ".join(result.output.split())
    assert not (tmp_path / "rm").exists()


def test_cli_lora_uses_its_own_defaults_and_trains(llama_dir, small_data, tmp_path):
    args = ["train", str(llama_dir), str(small_data), "-o", str(tmp_path / "rm"), "--use-peft", "--lora-r", "4"]
    result = CliRunner().invoke(app, [*args, "--lora-target-modules", "q_proj,v_proj", "--test-fraction", "0.25"])
    assert result.exit_code == 0, result.output
    assert "LoRA: learning rate 0.0001, 1 epoch, 8 pairs per batch" in result.output
    assert "held-out accuracy" in result.output and "length baseline" in result.output
    report = json.loads((tmp_path / "rm" / "train_report.json").read_text())
    assert report["mode"] == "lora" and report["settings"]["lora_r"] == 4
    assert report["settings"]["lora_target_modules"] == ["q_proj", "v_proj"]
    assert RewardModel.load(tmp_path / "rm").info.format == "hf-sequence-classification"


def test_cli_help_explains_the_modes():
    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    text = " ".join(result.output.replace("│", " ").split())  # the panel's borders out, wrapped lines joined
    for flag in ("--head-only", "--use-peft", "--full", "--lora-r", "--lora-target-modules"):
        assert flag in text
    assert "Default: 20 with --head-only, 1 with --use-peft or --full." in text
    assert (
        "with --use-peft or --full, whose learning rate decays over all the epochs, a changed epoch count starts over"
        in text
    )
    assert "0.0001 with --use-peft, 1e-05 with --full" in text


@pytest.fixture(scope="module")
def causal_lm(llama_dir, tmp_path_factory):
    """A tiny untrained LlamaForCausalLM: a base that is not a reward model yet."""
    from transformers import AutoConfig, AutoTokenizer, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("causal") / "lm"
    torch.manual_seed(0)
    LlamaForCausalLM(AutoConfig.from_pretrained(str(llama_dir))).save_pretrained(str(folder))
    AutoTokenizer.from_pretrained(str(llama_dir)).save_pretrained(str(folder))
    return folder


def test_seeds_on_a_causal_lm_base_train_distinct_members(causal_lm, small_data, tmp_path):
    """A causal LM becomes a reward model; each seed draws its own head and data order."""
    settings = fast("lora", num_train_epochs=1)
    run = dict(mode="lora", training=settings, seeds=[1, 2], test_fraction=0.0, progress=False)
    report = train_finetune(causal_lm, [small_data], tmp_path / "ens", **run)
    assert [s.seed for s in report.seeds] == [1, 2]
    assert "seed" not in report.settings and report.settings["lora_r"] == settings.lora_r
    members = [RewardModel.load(tmp_path / "ens" / f"seed-{k}") for k in (1, 2)]
    assert all(m.info.format == "hf-sequence-classification" for m in members)
    conv = [[{"role": "user", "content": "q"}, {"role": "assistant", "content": "great thanks"}]]
    assert members[0].score(conv) != pytest.approx(members[1].score(conv), abs=1e-4)
