"""Write docs/cli.md from the commands' own help: every command, argument and flag of `rewardkit`, with
its help text, default and panel, under the conventions they follow. The help lives in the code (the
config dataclasses' fields, the commands' options); this page is generated so it cannot drift, and
tests/unit/test_cli_docs.py fails when it is stale.

    python scripts/gen_cli_docs.py           # rewrite docs/cli.md
    python scripts/gen_cli_docs.py --check   # exit 1 if docs/cli.md differs from what would be written
"""

from __future__ import annotations

import inspect
import sys
import typing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "cli.md"

CONVENTIONS = """\
# Command line

Generated from the commands' own `--help` by `scripts/gen_cli_docs.py` (do not edit by hand: run
`python scripts/gen_cli_docs.py`; `tests/unit/test_cli_docs.py` fails when this page is stale).

## Conventions

- **The model is positional.** `rewardkit serve MODEL...`, `score MODEL INPUT`, `info MODEL` and
  `train BASE_MODEL DATA...` take it as their first argument. `eval` and `bon` take their data files
  positionally (several at once), so their model is `-m/--model`, repeated for an ensemble:
  `rewardkit eval pairs DATA... -m RM_A -m RM_B`.
- **A model is a checkpoint folder, `builtin`, or the URL of a running rewardkit server** wherever a
  command scores (`serve` as an ensemble member, `score`, `eval`, `bon`): a URL is scored through the
  HTTP client, with the server's own model settings.
- **API keys.** `--api-key` / `--api-key-file` exist on `serve` only and are the keys the server
  *requires*; a server also reads `$REWARDKIT_SERVER_API_KEY`. Commands that *send* a key to a server
  URL take `--server-api-key`, default `$REWARDKIT_API_KEY` (the variable every client and trainer
  adapter reads; a server never reads it). `bon generate` sends `--openai-api-key` (default
  `$OPENAI_API_KEY`) to the generating server.
- **Ray** flags are named alike wherever they appear: `--ray-replicas`, `--ray-gpus-per-replica`,
  `--ray-cpus-per-replica` (`serve`: replicas behind one endpoint; `score --backend ray`: actors that
  score chunks).
- **Settings come from the config dataclasses** (`rewardkit.config`: ModelConfig, EngineConfig,
  ServerConfig, EnsembleConfig, RewardsConfig; `rewardkit.training.config.TrainConfig`), each field a
  `--flag` with its help; `serve --help` groups them into panels (Model, Engine, Server, Ray,
  Ensemble, Rules). A command's own inputs and outputs (`score`'s columns, `bon generate`'s sampling
  parameters, `-o/--output`) are written in the command.
- Booleans read `--flag/--no-flag`; a flag with no default shown is chosen by the command or the model.
"""

SIMPLE = {int: "INTEGER", float: "FLOAT", str: "TEXT", Path: "PATH", bool: ""}


def _type_name(param: Any) -> str:
    """How a value is written: the choices of a Literal, else INTEGER / FLOAT / TEXT / PATH."""
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if annotation is not None:
        return _type_name_of(annotation)
    kind = getattr(param, "type", None)  # a plain click parameter (older typer)
    choices = getattr(kind, "choices", None)
    return "|".join(map(str, choices)) if choices else str(getattr(kind, "name", "")).upper().removesuffix(" RANGE")


def _type_name_of(annotation: Any) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Literal:
        return "|".join(map(str, args))
    if typing.get_origin(annotation) is not None and args:  # list[X], X | None
        return _type_name_of(args[0])
    return SIMPLE.get(annotation, str(getattr(annotation, "__name__", annotation)).upper())


def _default(param: Any) -> str:
    default = param.default
    if param.required or default is None or default == () or default == [] or callable(default):
        return ""
    if getattr(param, "is_flag", False) and param.secondary_opts:
        return f" (default: {param.opts[0] if default else param.secondary_opts[0]})"
    if getattr(param, "is_flag", False):
        return ""
    shown = str(default).replace("\n", "\\n")  # one line, as the help shows it
    return f" (default: `{shown}`)"


def _flag_line(param: Any) -> str:
    names = " / ".join(f"`{name}`" for name in [*param.opts, *param.secondary_opts])
    kind = "" if getattr(param, "is_flag", False) else _type_name(param)
    kind = f" {kind}" if kind else ""
    repeat = " (repeatable)" if getattr(param, "multiple", False) else ""
    required = " (required)" if param.required else ""
    help_text = " ".join((param.help or "").split())
    return f"- {names}{kind}{required}{repeat}{_default(param)}: {help_text}"


def _argument_help(param: Any, command: Any) -> str:
    """An argument's help as the command declares it (older click arguments do not keep it)."""
    declared = inspect.signature(command.callback).parameters.get(param.name)
    return getattr(param, "help", None) or getattr(getattr(declared, "default", None), "help", None) or ""


def _argument_line(param: Any, command: Any) -> str:
    name = (param.metavar or param.name).upper()
    many = "..." if param.nargs == -1 and not name.endswith("...") else ""
    optional = "" if param.required else " (optional)"
    help_text = " ".join(_argument_help(param, command).split())
    return f"- `{name}{many}`{optional}: {help_text}"


def _usage(path: list[str], command: Any) -> str:
    pieces = []
    for param in command.params:
        if type(param).__name__.endswith("Argument"):
            name = (param.metavar or param.name).upper()
            name += "..." if param.nargs == -1 and not name.endswith("...") else ""
            pieces.append(name if param.required else f"[{name}]")
    return " ".join(["rewardkit", *path, "[OPTIONS]", *pieces])


def _command_section(path: list[str], command: Any) -> list[str]:
    lines = [f"## `rewardkit {' '.join(path)}`", "", "```", _usage(path, command), "```", ""]
    for paragraph in (command.help or "").split("\n\n"):
        if paragraph.strip():
            lines += [" ".join(paragraph.split()), ""]
    arguments = [p for p in command.params if type(p).__name__.endswith("Argument")]
    if arguments:
        lines += ["**Arguments**", "", *(_argument_line(p, command) for p in arguments), ""]
    panels: dict[str, list[Any]] = {}
    for param in command.params:
        if type(param).__name__.endswith("Argument") or param.name == "help":
            continue
        panels.setdefault(getattr(param, "rich_help_panel", None) or "Options", []).append(param)
    for panel, params in panels.items():
        lines += [f"**{panel}**", "", *map(_flag_line, params), ""]
    return lines


def _commands(group: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found += _commands(command, [*path, name])
        else:
            found.append(([*path, name], command))
    return found


def render() -> str:
    """docs/cli.md as the commands' help makes it now."""
    import typer.main

    from rewardkit.cli import app

    root = typer.main.get_command(app)
    commands = sorted(_commands(root, []), key=lambda item: ORDER.index(item[0][0]))
    lines = [CONVENTIONS, "## Commands", ""]
    lines += [f"- [`rewardkit {' '.join(path)}`](#rewardkit-{'-'.join(path)})" for path, _ in commands]
    lines.append("")
    for path, command in commands:
        lines += _command_section(path, command)
    return "\n".join(lines).rstrip() + "\n"


ORDER = ["serve", "score", "info", "recipes", "builtin", "eval", "bon", "train"]


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if TARGET.read_text() != text:
            print(f"{TARGET.relative_to(ROOT)} is stale: run python scripts/gen_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
