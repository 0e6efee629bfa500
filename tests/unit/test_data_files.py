"""rewardkit.data's files and rows: atomic writes through one ``<name>.partial`` file, JSONL rows with
their line numbers, what a scoring row asks to score, and the package's place at the bottom of the layers."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from rewardkit.data.files import atomic_path, read_rows, write_jsonl, write_rows, write_text_atomic
from rewardkit.data.rows import row_input
from rewardkit.errors import InvalidInputError


def test_atomic_path_replaces_the_file_only_when_the_block_succeeds(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with atomic_path(path) as tmp:
        assert tmp == tmp_path / "out.txt.partial"
        tmp.write_text("new")
        assert path.read_text() == "old"  # nothing changes until the block ends
    assert path.read_text() == "new" and not tmp.exists()
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert path.read_text() == "new" and not tmp.exists()


def test_text_and_jsonl_writes(tmp_path):
    write_text_atomic(tmp_path / "a.txt", "héllo\n")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo\n"
    write_jsonl(tmp_path / "a.jsonl", iter([{"x": "é"}, {"y": 2}]))
    assert (tmp_path / "a.jsonl").read_text(encoding="utf-8") == '{"x": "é"}\n{"y": 2}\n'
    write_rows(tmp_path / "new" / "dir" / "b.jsonl", [{"z": 1}])  # write_rows creates the folder
    assert [json.loads(line) for line in (tmp_path / "new" / "dir" / "b.jsonl").read_text().splitlines()] == [{"z": 1}]
    assert sorted(p.name for p in tmp_path.rglob("*.partial")) == []


def test_read_rows_numbers_lines_and_names_bad_ones(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "a"}\n\n{"text": "b"}\n')
    assert read_rows(path) == [{"text": "a", "__line__": 1}, {"text": "b", "__line__": 3}]
    path.write_text('{"text": "a"}\n[1]\n')
    with pytest.raises(InvalidInputError, match=f"{path}:2: expected a JSON object per line"):
        read_rows(path)
    path.write_text('{"text": \n')
    with pytest.raises(InvalidInputError, match=f"{path}:1: not valid JSON"):
        read_rows(path)


def test_row_input():
    messages = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]
    assert row_input({"text": "t"}, "f:1") == "t"
    assert row_input({"query": "q"}, "f:1") == "q"
    assert row_input({"messages": messages}, "f:1") == messages
    with pytest.raises(InvalidInputError, match="f:2: needs a string 'text'"):
        row_input({"text": 3}, "f:2")


def test_data_imports_only_errors_types_and_templating_and_no_torch():
    modules = ["alpaca_eval", "fields", "files", "hh_rlhf", "llmbar", "multiple_choice", "preference", "readers"]
    modules += ["records", "rows", "truthfulqa", "unlabeled"]
    code = (
        "import sys, rewardkit; before = set(sys.modules); "  # whatever the package's __init__ loads is not data's
        + "; ".join(f"import rewardkit.data.{m}" for m in modules)
        + "; new = set(sys.modules) - before"
        + "; print(sorted(m for m in new if m.startswith('rewardkit.') and not m.startswith('rewardkit.data')))"
        + "; print('torch' in new)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, torch = out.stdout.split("\n")[:2]
    outside = {m for m in ast.literal_eval(loaded) if m.partition(".templating")[1] == ""}
    assert outside <= {"rewardkit.errors", "rewardkit.types"}
    assert torch == "False"
