"""`rewardkit bon generate` against a fake OpenAI-compatible server served by a real uvicorn on 127.0.0.1.

The fake answers deterministically: the k-th candidate ever produced for a prompt is f"{prompt} #{k}", so a
prompt's n candidates are "#0".."#{n-1}" in order however many requests they took.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections import Counter
from pathlib import Path

import pytest
import typer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from processes import app_in_thread
from typer.testing import CliRunner

from rewardkit.cli.generate import generate
from rewardkit.client.generation import generate_pool
from rewardkit.errors import InvalidInputError, ServerResponseError


class FakeOpenAI:
    """State and behaviour of the fake server; ``reset`` sets the behaviour of one test."""

    def __init__(self) -> None:
        self.reset()

    def reset(self, *, cap_n=None, failures=(), models=("fake-model",), delay=0.0, slow=()) -> None:
        self.cap_n, self.failures, self.models = cap_n, list(failures), list(models)
        self.delay, self.slow = delay, set(slow)
        self.requests: list[tuple[str, dict, dict]] = []  # (path, body, headers) of every request
        self.in_flight = self.max_in_flight = 0
        self.produced: Counter[str] = Counter()

    async def answer(self, request: Request, chat: bool):
        body = await request.json()
        self.requests.append((request.url.path, body, dict(request.headers)))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            key = body["messages"][-1]["content"] if chat else body["prompt"]
            await asyncio.sleep(self.delay + (0.1 if key in self.slow else 0.0))
            if self.failures:
                status, headers, message = self.failures.pop(0)
                return JSONResponse({"error": {"message": message, "code": status}}, status, headers=headers)
            choices = []
            for i in range(min(body["n"], self.cap_n or body["n"])):
                text = f"{key} #{self.produced[key]}"
                self.produced[key] += 1
                out = {"message": {"role": "assistant", "content": text}} if chat else {"text": text}
                choices.append({"index": i, **out, "finish_reason": "stop" if i % 2 == 0 else "length"})
            return {"object": "chat.completion" if chat else "text_completion", "choices": choices[::-1]}
        finally:
            self.in_flight -= 1


def _app(fake: FakeOpenAI) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        return await fake.answer(request, chat=True)

    @app.post("/v1/completions")
    async def completions(request: Request):
        return await fake.answer(request, chat=False)

    @app.get("/v1/models")
    async def models(request: Request):
        fake.requests.append((request.url.path, {}, dict(request.headers)))
        return {"object": "list", "data": [{"id": m, "object": "model"} for m in fake.models]}

    return app


@pytest.fixture(scope="module")
def server():
    fake = FakeOpenAI()
    with app_in_thread(_app(fake)) as url:
        fake.url = url
        yield fake


@pytest.fixture
def fake(server):
    server.reset()
    return server


def _write(path: Path, rows: list, mode: str = "w") -> Path:
    with open(path, mode, encoding="utf-8") as f:
        for row in rows:
            f.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _posts(fake: FakeOpenAI) -> list[dict]:
    return [body for path, body, _ in fake.requests if path != "/v1/models"]


def test_chat_mode_keeps_rows_and_sends_settings(fake, tmp_path):
    rows = [
        {
            "id": "a",
            "dataset": "d",
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "A"}],
        },
        {"id": "b", "prompt": "B"},
        {"id": "c", "instruction": "C", "output": "ref"},
    ]
    src, out = _write(tmp_path / "in.jsonl", rows), tmp_path / "pool.jsonl"
    count = generate_pool(
        src, out, base_url=fake.url + "/v1/", model="m", n=3, temperature=0.7, top_p=0.9, max_tokens=64,
        seed=11, api_key="sk-x", progress=False,
    )  # fmt: skip
    assert count == 3
    pool = _read(out)
    for index, (row, got, key) in enumerate(zip(rows, pool, ["A", "B", "C"])):
        assert got == {
            **row,
            "prompt_index": index,
            "candidates": [f"{key} #0", f"{key} #1", f"{key} #2"],
            "finish_reasons": ["stop", "length", "stop"],
            "generator": {"model": "m", "temperature": 0.7, "top_p": 0.9, "max_tokens": 64, "n": 3, "seed": 11},
        }
    bodies = {body["messages"][-1]["content"]: body for body in _posts(fake)}
    assert bodies["A"]["messages"] == rows[0]["messages"]
    assert bodies["B"]["messages"] == [{"role": "user", "content": "B"}]
    assert {k: bodies["C"][k] for k in ("model", "n", "temperature", "top_p", "max_tokens", "seed")} == {
        "model": "m", "n": 3, "temperature": 0.7, "top_p": 0.9, "max_tokens": 64, "seed": 11,
    }  # fmt: skip
    assert all(path == "/v1/chat/completions" for path, _, _ in fake.requests)
    assert all(headers["authorization"] == "Bearer sk-x" for _, _, headers in fake.requests)


def test_completions_mode_sends_raw_prompts(fake, tmp_path):
    src = _write(tmp_path / "in.jsonl", [{"prompt": "Once upon"}, {"instruction": "Q:"}])
    out = tmp_path / "pool.jsonl"
    assert generate_pool(src, out, base_url=fake.url, model="m", n=2, completions=True, progress=False) == 2
    assert [row["candidates"] for row in _read(out)] == [["Once upon #0", "Once upon #1"], ["Q: #0", "Q: #1"]]
    assert {path for path, _, _ in fake.requests} == {"/v1/completions"}
    assert sorted(body["prompt"] for body in _posts(fake)) == ["Once upon", "Q:"]


def test_server_that_caps_n_is_topped_up(fake, tmp_path):
    fake.reset(cap_n=1)
    src, out = _write(tmp_path / "in.jsonl", [{"prompt": "x"}, {"prompt": "y"}]), tmp_path / "pool.jsonl"
    generate_pool(src, out, base_url=fake.url, model="m", n=3, seed=7, progress=False)
    assert [row["candidates"] for row in _read(out)] == [["x #0", "x #1", "x #2"], ["y #0", "y #1", "y #2"]]
    asked = [(b["n"], b["seed"]) for b in _posts(fake) if b["messages"][-1]["content"] == "x"]
    assert asked == [(3, 7), (2, 8), (1, 9)]  # one request per missing candidate, each with its own seed


def test_concurrency_limit_is_respected(fake, tmp_path):
    fake.reset(delay=0.03)
    src = _write(tmp_path / "in.jsonl", [{"prompt": f"p{i}"} for i in range(12)])
    out = tmp_path / "pool.jsonl"
    assert generate_pool(src, out, base_url=fake.url, model="m", n=2, concurrency=3, progress=False) == 12
    assert 1 < fake.max_in_flight <= 3
    assert [row["prompt_index"] for row in _read(out)] == list(range(12))


def test_retries_on_503_and_429_then_succeeds(fake, tmp_path):
    fake.reset(failures=[(503, {}, "loading"), (429, {"Retry-After": "0"}, "slow down")])
    src, out = _write(tmp_path / "in.jsonl", [{"prompt": "x"}]), tmp_path / "pool.jsonl"
    assert generate_pool(src, out, base_url=fake.url, model="m", n=2, max_retries=3, progress=False) == 1
    assert _read(out)[0]["candidates"] == ["x #0", "x #1"]
    assert len(_posts(fake)) == 3


def test_retries_run_out(fake, tmp_path):
    fake.reset(failures=[(503, {}, "still loading")] * 2)
    src = _write(tmp_path / "in.jsonl", [{"prompt": "x"}])
    with pytest.raises(ServerResponseError, match=r"503: still loading \(after 2 tries\)"):
        generate_pool(src, tmp_path / "pool.jsonl", base_url=fake.url, model="m", max_retries=1, progress=False)


def test_client_error_quotes_the_server(fake, tmp_path):
    fake.reset(failures=[(400, {}, "max_tokens must be at most 4096")])
    src = _write(tmp_path / "in.jsonl", [{"prompt": "x"}])
    with pytest.raises(ServerResponseError, match="400: max_tokens must be at most 4096") as info:
        generate_pool(src, tmp_path / "pool.jsonl", base_url=fake.url, model="m", progress=False)
    assert info.value.status_code == 400
    assert len(_posts(fake)) == 1  # a 400 is not retried


def test_unreachable_server_is_a_connection_error(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: connections are refused
        src = _write(tmp_path / "in.jsonl", [{"prompt": "x"}])
        with pytest.raises(ConnectionError, match="after 1 tries"):
            generate_pool(src, tmp_path / "pool.jsonl", base_url=url, model="m", max_retries=0, progress=False)


@pytest.mark.parametrize(
    ("bad", "completions", "message"),
    [
        ("{not json", False, "not valid JSON"),
        ('["a list"]', False, "expected a JSON object"),
        ({"text": "x"}, False, "needs 'messages'"),
        ({"prompt": ""}, False, "'prompt' must be a non-empty string"),
        ({"messages": [{"role": "robot", "content": "x"}]}, False, r"messages\[0\] must be"),
        (
            {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]},
            False,
            "the last message",
        ),
        ({"messages": [{"role": "user", "content": "x"}]}, True, "has 'messages', which --completions cannot send"),
    ],
)
def test_malformed_row_names_file_and_line_before_any_request(fake, tmp_path, bad, completions, message):
    src = _write(tmp_path / "in.jsonl", [{"prompt": "fine"}, bad, {"prompt": "fine too"}])
    with pytest.raises(InvalidInputError, match=rf"in\.jsonl:2: {message}"):
        generate_pool(src, tmp_path / "pool.jsonl", base_url=fake.url, completions=completions, progress=False)
    assert fake.requests == []


def test_resume_asks_only_new_prompts_and_keeps_order(fake, tmp_path):
    src, out = _write(tmp_path / "in.jsonl", [{"id": i, "prompt": f"p{i}"} for i in range(3)]), tmp_path / "pool.jsonl"
    assert generate_pool(src, out, base_url=fake.url, model="m", n=2, progress=False) == 3
    _write(src, [{"id": i, "prompt": f"p{i}"} for i in range(3, 6)], mode="a")
    _write(out, ['{"prompt_index": 4, "cand'], mode="a")  # the half-written line of an interrupted run
    fake.reset(slow={"p3"})  # p3 finishes last: the file must still end up in input order
    assert generate_pool(src, out, base_url=fake.url, model="m", n=2, progress=False) == 6
    assert sorted(body["messages"][-1]["content"] for body in _posts(fake)) == ["p3", "p4", "p5"]
    pool = _read(out)
    assert [row["id"] for row in pool] == [row["prompt_index"] for row in pool] == list(range(6))
    assert all(row["candidates"] == [f"p{row['id']} #0", f"p{row['id']} #1"] for row in pool)
    assert not out.with_name(out.name + ".partial").exists()
    with pytest.raises(InvalidInputError, match=r"pool\.jsonl:1: generated with"):
        generate_pool(src, out, base_url=fake.url, model="m", n=3, progress=False)


def test_model_is_discovered_when_not_given(fake, tmp_path):
    fake.reset(models=("served-model", "other"))
    src, out = _write(tmp_path / "in.jsonl", [{"prompt": "x"}]), tmp_path / "pool.jsonl"
    generate_pool(src, out, base_url=fake.url + "/v1", n=1, progress=False)
    assert _read(out)[0]["generator"]["model"] == "served-model"
    assert [body["model"] for body in _posts(fake)] == ["served-model"]
    fake.reset(models=())
    with pytest.raises(InvalidInputError, match="lists no model; pass --model"):
        generate_pool(src, tmp_path / "other.jsonl", base_url=fake.url, n=1, progress=False)


def test_cli_command(fake, tmp_path, monkeypatch):
    app = typer.Typer()
    app.command()(generate)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    src, out = _write(tmp_path / "in.jsonl", [{"prompt": "x"}, {"prompt": "y"}]), tmp_path / "pool.jsonl"
    args = [str(src), "-o", str(out), "--base-url", fake.url, "--model", "m", "--n", "2", "--concurrency", "1"]
    result = CliRunner().invoke(app, [*args, "--temperature", "0.5", "--max-tokens", "16"])
    assert result.exit_code == 0, result.output
    assert [row["candidates"] for row in _read(out)] == [["x #0", "x #1"], ["y #0", "y #1"]]
    assert _read(out)[0]["generator"] == {"model": "m", "temperature": 0.5, "top_p": 1.0, "max_tokens": 16, "n": 2}
    assert {headers["authorization"] for _, _, headers in fake.requests} == {"Bearer sk-env"}
    _write(src, ["{broken"], mode="a")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "error: " in result.stderr and "in.jsonl:3: not valid JSON" in result.stderr
