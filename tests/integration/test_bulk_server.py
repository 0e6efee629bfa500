"""`rewardkit score URL`: a table scored through a running server gets the scores the checkpoint gives
in this process, with the same files beside the output and the same resume; a row the server refuses
is that row's error (stopped at, or skipped), not the chunk's."""

from __future__ import annotations

import json

import pytest
from batch_checks import TOL
from processes import app_in_thread
from typer.testing import CliRunner

from rewardkit.cli import app
from rewardkit.config import ServerConfig
from rewardkit.models import load_model
from rewardkit.serving import build

CONV = [{"role": "user", "content": "hi there"}, {"role": "assistant", "content": "hello, how can I help?"}]
LIMIT = 400
"""The server's --max-chars-per-item: a longer row is refused by the server alone (HTTP 413)."""


@pytest.fixture(scope="module")
def server(llama_dir):
    application = build(load_model(str(llama_dir)), server_config=ServerConfig(max_chars_per_item=LIMIT))
    with app_in_thread(application, lifespan="on") as url:
        yield url


def rows() -> list[dict]:
    texts = [f"row {i}: " + "the quick brown fox jumps over the lazy dog " * (i % 4 + 1) for i in range(9)]
    return [{"id": i, "text": t} for i, t in enumerate(texts)] + [{"id": 9, "messages": CONV}]


def invoke(args: list[str]):
    return CliRunner().invoke(app, ["score", *map(str, args)])


def read(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_server_url_scores_as_the_checkpoint_does_and_resumes(tmp_path, server, llama_dir):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows()))
    remote, local = tmp_path / "remote.jsonl", tmp_path / "local.jsonl"
    done = invoke([server, source, "-o", remote, "--chunk-rows", "4"])
    assert done.exit_code == 0, done.output
    assert invoke([llama_dir, source, "-o", local]).exit_code == 0
    assert [r["id"] for r in read(remote)] == list(range(10))
    assert [r["score"] for r in read(remote)] == pytest.approx([r["score"] for r in read(local)], abs=TOL)
    manifest = json.loads((tmp_path / "remote.jsonl.manifest.json").read_text())
    assert manifest["backend"] == "server" and manifest["model"]["server"] == server
    again = invoke([server, source, "-o", remote])
    assert again.exit_code == 0 and "already complete" in again.output


def test_a_row_the_server_refuses_is_that_rows_error(tmp_path, server):
    source = tmp_path / "in.jsonl"
    bad = {"id": 3, "text": "x" * (LIMIT + 1)}
    source.write_text("".join(json.dumps(r) + "\n" for r in [*rows()[:3], bad, *rows()[4:]]))
    out = tmp_path / "out.jsonl"
    stopped = invoke([server, source, "-o", out, "--chunk-rows", "2"])
    assert stopped.exit_code == 2 and "the server refused it" in stopped.output
    assert [r["id"] for r in read(out)] == [0, 1, 2]  # every row before the bad one is committed
    skipped = invoke([server, source, "-o", out, "--chunk-rows", "2", "--on-error", "skip"])
    assert skipped.exit_code == 0, skipped.output
    assert [r["id"] for r in read(out)] == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    errors = read(tmp_path / "out.jsonl.errors.jsonl")
    assert len(errors) == 1 and "413" in errors[0]["error"]


def test_model_flags_are_refused_for_a_server(tmp_path, server):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"text": "x"}) + "\n")
    for extra in (["--dtype", "float32"], ["--backend", "ray"], ["--max-batch-tokens", "64"]):
        result = invoke([server, source, "-o", tmp_path / "o.jsonl", *extra])
        assert result.exit_code == 2 and "set them on its `rewardkit serve`" in result.output
