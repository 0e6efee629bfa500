"""docs/cli.md is generated from the commands' own help (scripts/gen_cli_docs.py): this fails when a
flag, its help or its default changed without the page being generated again."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_cli_docs", ROOT / "scripts" / "gen_cli_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_cli_md_is_what_the_commands_help_says():
    generated = _generator().render()
    written = (ROOT / "docs" / "cli.md").read_text()
    assert written == generated, "docs/cli.md is stale: run python scripts/gen_cli_docs.py"


def test_every_command_and_flag_is_on_the_page():
    import typer.main

    from rewardkit.cli import app

    text = (ROOT / "docs" / "cli.md").read_text()
    generator = _generator()
    for path, command in generator._commands(typer.main.get_command(app), []):
        assert f"## `rewardkit {' '.join(path)}`" in text
        for param in command.params:
            for flag in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]:
                if flag.startswith("-") and flag != "--help":
                    assert f"`{flag}`" in text, f"rewardkit {' '.join(path)} {flag} is missing from docs/cli.md"
