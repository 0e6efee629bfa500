"""The docs say what the code does: every ```python block in README.md and docs/*.md runs, and every
--flag the docs write after `rewardkit <command>` is one of that command's flags.

How a block runs: the blocks of one file run in order in one namespace, in this process (top-level
``await`` / ``async with`` allowed), with the names users would type replaced by tiny stand-ins:
"builtin" and "/ckpt/rm" by a tiny Llama reward model, "/ckpt/pair-pm" by a tiny pairwise LM, and
"http://127.0.0.1:8000" by a real server of the tiny model, "http://127.0.0.1:8001" by one with the
README's reward functions beside it. A block that cannot run here (it needs a trainer, a GPU, a long
run) is preceded by the line ``<!-- docs-test: skip (why) -->``; the reason is required, and such
blocks should stay rare.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
from pathlib import Path

import pytest
import typer.main
from processes import app_in_thread

from rewardkit.cli import app
from rewardkit.config import RewardsConfig
from rewardkit.models import load_model
from rewardkit.serving import build

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
SKIP = re.compile(r"<!-- docs-test: skip \((?P<why>[^)]+)\) -->\s*$")
COMMAND = re.compile(r"(?<![\w./-])rewardkit\s+(?P<name>[a-z][a-z0-9-]*)(?:\s+(?P<sub>[a-z][a-z0-9-]*))?")
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def python_blocks(page: Path) -> list[tuple[int, str, str | None]]:
    """(line, code, why it is skipped or None) for each ```python block of ``page``."""
    text = page.read_text()
    found = []
    for match in FENCE.finditer(text):
        if match.group(1) != "python":
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        found.append((text[: match.start()].count("\n") + 1, match.group(2), skip and skip.group("why")))
    return found


def test_the_skip_marker_is_read_and_needs_a_reason(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("<!-- docs-test: skip (needs a GPU) -->\n```python\nx = 1\n```\n\n```python\ny = 2\n```\n")
    assert [(line, why) for line, _, why in python_blocks(page)] == [(2, "needs a GPU"), (6, None)]
    page.write_text("<!-- docs-test: skip -->\n```python\nx = 1\n```\n")
    assert python_blocks(page)[0][2] is None  # no reason, no skip


@pytest.fixture(scope="module")
def stand_ins(checkpoint):
    """The literal strings of the docs' blocks and what each runs against here."""
    llama = str(checkpoint("llama"))
    rules = RewardsConfig(reward_fn=["math", "format"], weights="model=0.5,math=1,format=0.2")
    model = load_model(llama)
    with (
        app_in_thread(build(model), lifespan="on") as plain,
        app_in_thread(build(model, rewards_config=rules), lifespan="on") as with_rules,
    ):
        yield {
            '"builtin"': repr(llama),
            '"/ckpt/rm"': repr(llama),
            '"/ckpt/pair-pm"': repr(str(checkpoint("pairwise_lm"))),
            '"http://127.0.0.1:8000"': repr(plain),
            '"http://127.0.0.1:8001"': repr(with_rules),
        }


def _run(code: str, namespace: dict, where: str) -> None:
    compiled = compile(code, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(compiled, namespace)
    if inspect.iscoroutine(result):
        asyncio.run(result)


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)], ids=lambda p: p.name)
def test_every_python_block_runs(page, stand_ins, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for line, code, skipped in python_blocks(page):
        if skipped:
            continue
        for literal, stand_in in stand_ins.items():
            code = code.replace(literal, stand_in)
        where = f"{page.relative_to(ROOT)}:{line}"
        try:
            _run(code, namespace, where)
        except Exception as exc:
            pytest.fail(f"the ```python block at {where} fails: {type(exc).__name__}: {exc}")


def _commands() -> dict[tuple[str, ...], set[str]]:
    """Each command's path ("serve",) / ("eval", "pairs") and every flag it takes."""
    found: dict[tuple[str, ...], set[str]] = {}

    def walk(group, path: tuple[str, ...]) -> None:
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                found[(*path, name)] = {"--help"}
                walk(command, (*path, name))
            else:
                flags = {"--help"}
                for param in command.params:
                    flags |= {o for o in [*param.opts, *getattr(param, "secondary_opts", [])] if o.startswith("-")}
                found[(*path, name)] = flags

    walk(typer.main.get_command(app), ())
    return found


def _named(text: str) -> list[tuple[int, str]]:
    """(line, text) of every place a `rewardkit ...` command line can sit: each logical line of a
    fenced block (backslash continuations joined, comments cut) and each inline `code` span."""
    places = []
    for match in FENCE.finditer(text):
        if match.group(1) == "python":
            continue  # `from rewardkit import ...` is no command line
        start = text[: match.start()].count("\n") + 2
        logical, first = "", start
        for offset, raw in enumerate(match.group(2).split("\n")):
            if not logical:
                first = start + offset
            logical += raw.rstrip("\\") + " "
            if not raw.endswith("\\"):
                places.append((first, re.split(r"\s#", logical)[0]))
                logical = ""
    prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for match in re.finditer(r"`(rewardkit [^`\n]+)`", prose):
        places.append((prose[: match.start()].count("\n") + 1, match.group(1)))
    return places


def wrong_flags(text: str, name: str, commands: dict[tuple[str, ...], set[str]]) -> list[str]:
    """Every `rewardkit <command> --flag` in ``text`` whose command or flag does not exist."""
    wrong = []
    for line, place in _named(text):
        for segment in re.split(r"[|;&]", place):
            match = COMMAND.search(segment)
            if not match:
                continue
            path = (match.group("name"), match.group("sub"))
            path = path if path in commands else path[:1]
            if path not in commands:
                wrong.append(f"{name}:{line}: no command `rewardkit {path[0]}`")
                continue
            for flag in FLAG.findall(segment[match.end() :]):
                if flag not in commands[path]:
                    wrong.append(f"{name}:{line}: `rewardkit {' '.join(path)}` has no {flag}")
    return wrong


def test_the_flag_check_sees_code_blocks_continuations_and_inline_commands():
    text = "Run `rewardkit train --lora`.\n```bash\nrewardkit score M IN -o OUT \\\n    --actors 2  # --x\n```\n"
    assert wrong_flags(text, "page.md", _commands()) == [
        "page.md:3: `rewardkit score` has no --actors",
        "page.md:1: `rewardkit train` has no --lora",
    ]


def test_every_flag_the_docs_name_exists():
    commands = _commands()
    wrong = [f for page in PAGES for f in wrong_flags(page.read_text(), str(page.relative_to(ROOT)), commands)]
    assert wrong == []
