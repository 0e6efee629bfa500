from __future__ import annotations

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
