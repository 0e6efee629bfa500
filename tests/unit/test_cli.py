from __future__ import annotations

import json
from dataclasses import fields

import pytest
from typer.testing import CliRunner

from rewardkit.cli import app
from rewardkit.config import EngineConfig, ModelConfig, ServerConfig

runner = CliRunner()


def test_serve_help_lists_every_config_field_with_its_help():
    out = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "250", "TERMINAL_WIDTH": "250"}).output
    for cls in (ModelConfig, EngineConfig, ServerConfig):
        for f in fields(cls):
            assert "--" + f.name.replace("_", "-") in out
            assert f.metadata["help"].split()[0] in out


@pytest.mark.parametrize("command", ["score", "info"])
def test_other_commands_explain_themselves(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "--dtype" in result.output


def test_info_prints_detected_format(llama_dir):
    result = runner.invoke(app, ["info", str(llama_dir), "--json"])
    assert result.exit_code == 0, result.output
    assert '"format": "hf-sequence-classification"' in result.output


def test_unloadable_folder_gets_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "llama", "architectures": ["LlamaForCausalLM"]}')
    result = runner.invoke(app, ["info", str(tmp_path)])
    assert result.exit_code == 2
    assert "unsupported reward-model format" in result.output and "Supported" in result.output


def test_info_reports_objectives_and_detection_for_custom_code(checkpoint):
    path = str(checkpoint("armo_gating"))
    refused = runner.invoke(app, ["info", path])
    assert refused.exit_code == 2 and "--trust-remote-code" in refused.output
    result = runner.invoke(app, ["info", path, "--trust-remote-code", "--json"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    assert facts["format"] == "custom-code" and "auto_map" in facts["detected_by"]
    assert facts["outputs"][0] == "score" and facts["objective"] == "score"
    for key in ("head", "pooling", "pad_token", "eos_token", "bos_token", "template", "normalization"):
        assert key in facts


def test_info_for_a_pairwise_model_and_the_hint_without_the_flag(checkpoint):
    path = str(checkpoint("pairwise_lm"))
    refused = runner.invoke(app, ["info", path])
    assert refused.exit_code == 2 and "--pairwise" in refused.output
    result = runner.invoke(app, ["info", path, "--pairwise", "--pairwise-temperature", "0.5", "--json"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    assert facts["pairwise"]["temperature"] == 0.5 and facts["pairwise"]["tokens"] == ["A", "B"]


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        (["bon", "generate"], ["--base-url", "--n", "--temperature", "--max-tokens", "--concurrency"]),
        (["bon", "pool"], ["--output", "--limit"]),
        (["bon", "select"], ["--model", "--ensemble", "--uwo-lambda", "--standardize"]),
        (["bon", "eval"], ["--model", "--ns", "--ensemble"]),
        (["eval", "pairs"], ["--model", "--limit", "--ensemble"]),
        (["eval", "mc"], ["--model", "--limit"]),
    ],
)
def test_bon_and_eval_commands_explain_their_flags(command, flags):
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "250", "TERMINAL_WIDTH": "250"})
    assert result.exit_code == 0
    for flag in flags:
        assert flag in result.output


def test_serve_lists_the_ensemble_flags():
    out = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "250", "TERMINAL_WIDTH": "250"}).output
    for flag in ("--ensemble", "--uwo-lambda", "--standardize"):
        assert flag in out


def test_train_help_lists_every_train_config_field_with_its_help():
    from rewardkit.training.config import TrainConfig

    out = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "250", "TERMINAL_WIDTH": "250"}).output
    text = " ".join(out.replace("│", " ").split())
    for f in fields(TrainConfig):
        assert "--" + f.name.replace("_", "-") in text
        assert " ".join(f.metadata["help"].split()[:4]) in text
    assert "--output-dir -o" in text


@pytest.mark.parametrize("switch", ["--head-only", "--use-peft", "--full", "--gradient-checkpointing"])
def test_train_mode_switches_have_no_negative_form(switch, tmp_path):
    result = runner.invoke(app, ["train", "base", "data.jsonl", "-o", str(tmp_path), "--no-" + switch[2:]])
    assert result.exit_code == 2 and "No such option" in result.output


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--num-train-epochs", "0"], "--num-train-epochs"),
        (["--lora-dropout", "1.5"], "--lora-dropout"),
        (["--ssrm-threshold", "0.4"], "--ssrm-threshold"),
        (["--use-peft", "--full"], "--use-peft and --full are different training modes; choose one"),
        (["--lora-r", "4"], "--lora-r applies to LoRA training (--use-peft) only"),
        (["--save-steps", "5"], "--save-steps applies to --use-peft and --full training, not --head-only"),
        (["--seeds", "1,1"], "--seeds names 1 more than once"),
        (["--soft-labels", "--use-peft"], "--soft-labels applies to --head-only training"),
        (["--soft-labels", "--unlabeled", "u.jsonl"], "--soft-labels trains without SSRM rounds"),
    ],
)
def test_train_refuses_out_of_range_or_unused_flags_before_loading(flags, message, tmp_path):
    result = runner.invoke(app, ["train", "base", "data.jsonl", "-o", str(tmp_path / "rm"), *flags])
    assert result.exit_code == 2 and message in " ".join(result.output.replace("│", " ").split())
    assert not (tmp_path / "rm").exists()


def test_train_config_gives_each_mode_its_settings(tmp_path):
    from rewardkit.training.config import TrainConfig
    from rewardkit.training.head import HeadTraining
    from rewardkit.training.ssrm import SSRMSettings
    from rewardkit.training.trl_trainer import FinetuneTraining

    config = TrainConfig(output_dir=tmp_path, learning_rate=0.5, lora_target_modules=" q_proj, v_proj ,")
    assert config.head_training() == HeadTraining(learning_rate=0.5)
    assert config.finetune_training("full") == FinetuneTraining(
        learning_rate=0.5, lora_target_modules=("q_proj", "v_proj")
    )
    assert TrainConfig(output_dir=tmp_path).finetune_training("full").learning_rate == 1e-5
    assert (
        TrainConfig(output_dir=tmp_path, lora_target_modules="").finetune_training("lora").lora_target_modules is None
    )
    assert TrainConfig(output_dir=tmp_path, ssrm_rounds=1).ssrm_settings() == SSRMSettings(rounds=1)


@pytest.mark.parametrize("command", [["score"], ["eval", "pairs"], ["eval", "mc"], ["bon", "select"], ["bon", "eval"]])
def test_batch_token_flags_default_to_the_engines_choice_and_say_so(command):
    from rewardkit.config import help_text

    out = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "250", "TERMINAL_WIDTH": "250"}).output
    text = " ".join(out.replace("│", " ").split())
    assert help_text(EngineConfig, "max_batch_tokens") in text and "[default: 4096]" not in text
