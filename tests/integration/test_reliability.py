"""The server under abuse, in-process over a real tiny Llama: admission before tokenizing, limits named
by their flags, clients that leave or run out of time lose their queued work, a drain, stalled
bodies, framework errors in the one error shape. A gate holds the model mid-forward (a slow model
without sleeps), so queue states are exact; the uvicorn-level probes are in tests/e2e."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading

import pytest
from conftest import FaultyModel
from serving import serving, serving_app
from waiting import wait_until_async

from rewardkit.config import EngineConfig, ModelConfig, ServerConfig
from rewardkit.errors import InvalidInputError
from rewardkit.models import load_model
from rewardkit.serving import build

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}


@pytest.fixture
def llama(llama_dir):
    return load_model(llama_dir)


@pytest.fixture
def gated(llama):
    """The real model, whose forward waits for ``model.gate`` (opened at the end of every test)."""
    gate = threading.Event()
    model = FaultyModel(llama, gate=gate)
    yield model
    gate.set()


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def scored(c) -> float:
    return metric((await c.get("/metrics")).text, "rewardkit_sequences_scored_total")


async def queue_depth(c) -> float:
    return metric((await c.get("/metrics")).text, "rewardkit_queue_depth")


async def until(predicate, tries: int = 400) -> None:
    """Poll an async predicate (bounded in tries, not a timing assertion)."""
    for _ in range(tries):
        if await predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


async def hold_worker(c, model) -> asyncio.Task:
    """A one-text request the (gated) worker is stuck on: the queue behind it is exactly what follows."""
    task = asyncio.ensure_future(c.post("/get_reward", json={"query": ["held"]}))
    await asyncio.to_thread(model.entered.wait, 10)
    return task


def asgi_call(app, path: str, payload: dict, leave=None, stall: bool = False, messages: list | None = None):
    """Drive the app as a server would, with a client that can leave (``leave``, an Event) or never
    finish its body (``stall``); returns (and appends to ``messages``) what the app sent."""
    body = json.dumps(payload).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 5000),
        "server": ("rk", 80),
    }
    state = {"sent": False}
    messages = [] if messages is None else messages

    async def receive() -> dict:
        if not state["sent"]:
            state["sent"] = True
            return {"type": "http.request", "body": body[: 10 if stall else None], "more_body": stall}
        await (leave.wait() if leave is not None else asyncio.Event().wait())
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        messages.append(message)

    async def run() -> list[dict]:
        await app(scope, receive, send)
        return messages

    return run()


def answer(messages: list[dict]) -> tuple[int, dict]:
    status = next(m["status"] for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return status, json.loads(body)


# ---- limits, checked before any tokenizing ---------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "payload"),
    [
        ("/get_reward", {"query": ["a", "b", "c", "d"]}),
        ("/score", {"conversations": [[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]] * 4}),
        ("/best_of_n", {"prompt": "q", "candidates": ["a", "b", "c", "d"]}),
        ("/rank", {"prompt": "q", "candidates": ["a", "b", "c", "d"]}),
    ],
)
async def test_too_many_items_is_a_413_naming_the_flag(llama, route, payload):
    async with serving(llama, server_config=ServerConfig(max_items_per_request=3)) as c:
        r = await c.post(route, json=payload)
    assert r.status_code == 413 and r.json()["error"] == "TooManyItemsError"
    assert "4 items" in r.json()["detail"] and "--max-items-per-request" in r.json()["detail"]


async def test_a_long_item_is_a_413_naming_the_flag_and_the_item(llama):
    async with serving(llama, server_config=ServerConfig(max_chars_per_item=100)) as c:
        ok = await c.post("/get_reward", json={"query": ["x" * 100]})
        r = await c.post("/get_reward", json={"query": ["short", "x" * 101]})
        context = await c.post("/best_of_n", json={"prompt": "p" * 90, "candidates": ["fine", "c" * 11]})
    assert ok.status_code == 200
    assert r.status_code == 413 and r.json()["error"] == "InputTooLongError"
    assert "item 1: 101 characters" in r.json()["detail"] and "--max-chars-per-item" in r.json()["detail"]
    assert context.status_code == 413 and "item 1: 101 characters" in context.json()["detail"]  # context counts


async def test_a_megabyte_text_scores_as_its_kept_end(llama):
    """Cut before tokenizing, yet the same reward as the last max-length tokens scored alone."""
    words = " ".join(f"w{i % 97}" for i in range(250_000))  # ~1.2 MB, far over the model's max length
    async with serving(llama) as c:
        long = (await c.post("/get_reward", json={"query": [words]})).json()
        tail = llama.tokenizer.decode(llama.tokenizer(words)["input_ids"][-(llama.info.max_length - 1) :])
        alone = (await c.post("/get_reward", json={"query": [tail]})).json()
    assert long["extra_logs"]["truncated"] == [1.0]
    assert long["extra_logs"]["num_tokens"] == [float(llama.info.max_length)]
    assert long["rewards"][0] == pytest.approx(alone["rewards"][0], abs=1e-4)


# ---- admission -----------------------------------------------------------------------------------------


async def test_a_full_queue_refuses_before_tokenizing_with_retry_after_from_measured_throughput(gated):
    """The refused request holds an over-long text under --truncation error: tokenizing it first would
    answer 413, so the 503 shows nothing was tokenized. Retry-After follows from the measured rate."""
    config = EngineConfig(max_queue=4, max_batch_size=1, max_wait_ms=0)
    async with serving(gated, ModelConfig(truncation="error"), config) as c:
        first = asyncio.ensure_future(c.post("/get_reward", json={"query": ["slow"]}))
        await asyncio.to_thread(gated.entered.wait, 10)
        await asyncio.sleep(0.5)  # one measured batch of one sequence that took at least 0.5 s
        gated.gate.set()
        assert (await first).status_code == 200
        gated.gate.clear()
        gated.entered.clear()
        held = await hold_worker(c, gated)
        queued = asyncio.ensure_future(c.post("/get_reward", json={"query": ["a", "b", "c", "d"]}))
        await until(lambda: _equals(queue_depth(c), 4))
        refused = await c.post("/get_reward", json={"query": ["word " * 100_000]})
        gated.gate.set()
        assert (await held).status_code == 200 and (await queued).status_code == 200
    assert refused.status_code == 503 and refused.json()["error"] == "QueueFullError"
    assert int(refused.headers["retry-after"]) >= 2  # 4 queued at <= 2 sequences/s


async def _equals(value, expected) -> bool:
    return await value == expected


async def test_a_request_larger_than_the_queue_is_413_at_once(llama):
    async with serving(llama, engine_config=EngineConfig(max_queue=3)) as c:
        r = await c.post("/get_reward", json={"query": ["a", "b", "c", "d"]})
    assert r.status_code == 413 and "--max-queue" in r.json()["detail"]


# ---- clients that leave, deadlines ---------------------------------------------------------------------


async def test_a_client_that_leaves_takes_its_queued_items_with_it(gated):
    async with serving(gated) as c:
        held = await hold_worker(c, gated)
        leave = asyncio.Event()
        abandoned = asyncio.ensure_future(asgi_call(c.app, "/get_reward", {"query": ["gone"] * 40}, leave))
        await until(lambda: _equals(queue_depth(c), 40))
        leave.set()
        await abandoned  # the app returns once the request is cancelled
        assert await queue_depth(c) == 0
        gated.gate.set()
        assert (await held).status_code == 200
        after = await c.post("/get_reward", json={"query": ["next"]})  # FIFO: anything left would go first
        assert after.status_code == 200
        assert await scored(c) == 2  # the held one and this one: none of the 40
        requests = (await c.get("/metrics")).text
    assert 'rewardkit_requests_total{route="/get_reward",status="499"} 1.0' in requests


async def test_a_request_past_its_deadline_is_504_and_its_work_dropped(gated):
    async with serving(gated, server_config=ServerConfig(request_timeout=30)) as c:
        held = await hold_worker(c, gated)
        late = await c.post("/get_reward", json={"query": ["late"] * 5}, headers={"X-Request-Timeout": "0.2"})
        assert await queue_depth(c) == 0
        gated.gate.set()
        await held
        assert (await c.post("/get_reward", json={"query": ["next"]})).status_code == 200
        assert await scored(c) == 2
        bad = await c.post("/get_reward", json={"query": ["x"]}, headers={"X-Request-Timeout": "soon"})
    assert late.status_code == 504 and late.json()["error"] == "RequestTimeout"
    assert "dropped" in late.json()["detail"]
    assert bad.status_code == 422 and "X-Request-Timeout" in bad.json()["detail"]


async def test_a_stalled_body_is_408(llama):
    async with serving(llama, server_config=ServerConfig(body_timeout=0.2)) as c:
        status, body = answer(await asgi_call(c.app, "/get_reward", {"query": ["x"]}, stall=True))
    assert status == 408 and body["error"] == "RequestTimeout" and "--body-timeout" in body["detail"]


# ---- draining ------------------------------------------------------------------------------------------


async def test_a_draining_server_says_so_and_refuses_new_work(llama):
    async with serving(llama) as c:
        c.app.state.drain.begin()
        health = await c.get("/health")
        refused = await c.post("/get_reward", json={"query": ["x"]})
    assert health.status_code == 503 and health.json()["status"] == "draining"
    assert refused.status_code == 503 and refused.json()["error"] == "ShuttingDown"


async def test_requests_cut_off_by_the_end_of_the_drain_are_answered_503(gated):
    """What uvicorn does when --drain-timeout runs out: it cancels the request's task."""
    async with serving(gated) as c:
        messages: list[dict] = []
        running = asyncio.ensure_future(asgi_call(c.app, "/get_reward", {"query": ["x"]}, messages=messages))
        await asyncio.to_thread(gated.entered.wait, 10)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        gated.gate.set()
    status, body = answer(messages)
    assert status == 503 and body["error"] == "ShuttingDown"


# ---- the one error shape -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "kind"),
    [
        ("POST", "/nowhere", b"{}", 404, "NotFound"),
        ("DELETE", "/get_reward", b"", 405, "MethodNotAllowed"),
        ("POST", "/get_reward", b'{"query": ["\xff\xfe"]}', 400, "MalformedJSON"),
        ("POST", "/get_reward", b"[" * 100_000 + b"]" * 100_000, 400, "MalformedJSON"),
        ("POST", "/get_reward", b'{"query": ["x"], "labels": [' + b"9" * 5000 + b"]}", 400, "MalformedJSON"),
        ("POST", "/get_reward", b'{"query": ', 400, "MalformedJSON"),
    ],
)
async def test_framework_errors_come_in_the_one_error_shape_with_one_log_line(
    llama, caplog, method, path, body, status, kind
):
    caplog.set_level(logging.WARNING, logger="rewardkit.serving")
    async with serving(llama) as c:
        r = await c.request(method, path, content=body, headers=JSON)
    assert r.status_code == status, r.text
    assert set(r.json()) == {"detail", "error"} and r.json()["error"] == kind
    records = [rec for rec in caplog.records if rec.name == "rewardkit.serving"]
    assert len(records) == 1 and records[0].exc_info is None and str(status) in records[0].getMessage()


# ---- API keys from a file ------------------------------------------------------------------------------


async def test_api_keys_from_a_file_several_and_reloaded(llama, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="rewardkit.serving")
    keys = tmp_path / "keys"
    keys.write_text("# rotated monthly\nfirst-key\n\nsecond-key\n")
    auth = lambda key: {"Authorization": f"Bearer {key}"}  # noqa: E731

    async def accepted(key: str) -> bool:  # /info: the cheapest route that checks the key
        return (await c.get("/info", headers=auth(key))).status_code == 200

    async def empty_file_read() -> bool:  # a request makes the server look at the file
        await accepted("third-key")
        return any("keeping the" in record.getMessage() for record in caplog.records)

    async with serving(llama, server_config=ServerConfig(api_key_file=str(keys))) as c:
        first = await c.post("/get_reward", json={"query": ["x"]}, headers=auth("first-key"))
        second = await c.post("/get_reward", json={"query": ["x"]}, headers=auth("second-key"))
        comment = await c.post("/get_reward", json={"query": ["x"]}, headers=auth("# rotated monthly"))
        keys.write_text("third-key\n")  # the file is looked at no more than once a second
        await wait_until_async(lambda: accepted("third-key"), "the rotated key is accepted")
        rotated = await c.post("/get_reward", json={"query": ["x"]}, headers=auth("third-key"))
        retired = await c.post("/get_reward", json={"query": ["x"]}, headers=auth("first-key"))
        keys.write_text("")  # a broken rotation keeps the keys that worked
        await wait_until_async(empty_file_read, "the emptied key file is read")
        kept = await c.post("/get_reward", json={"query": ["x"]}, headers=auth("third-key"))
    assert [first.status_code, second.status_code, comment.status_code] == [200, 200, 401]
    assert [rotated.status_code, retired.status_code, kept.status_code] == [200, 401, 200]


def test_an_empty_or_missing_key_file_is_refused_at_start_up(llama, tmp_path):
    (tmp_path / "empty").write_text("# nothing yet\n")
    for path, message in ((tmp_path / "empty", "holds no key"), (tmp_path / "missing", "cannot be read")):
        with pytest.raises(InvalidInputError, match=message):
            build(llama, server_config=ServerConfig(api_key_file=str(path)))


async def test_slices_keep_error_indices_of_the_whole_request(llama):
    """Large requests are tokenized in slices; an error still names the caller's item."""
    async with serving_app(build(llama, ModelConfig(truncation="error"))) as c:
        r = await c.post("/get_reward", json={"query": ["ok"] * 150 + ["word " * 5000]})
    assert r.status_code == 413 and r.json()["detail"].startswith("item 150:")


async def test_a_client_that_leaves_mid_upload_is_counted_not_answered(llama):
    async with serving(llama) as c:
        leave = asyncio.Event()
        leave.set()
        messages = await asgi_call(c.app, "/get_reward", {"query": ["x"] * 10}, leave=leave, stall=True)
        metrics = (await c.get("/metrics")).text
    assert messages == []
    assert 'rewardkit_requests_total{route="/get_reward",status="499"} 1.0' in metrics
    assert 'status="500"' not in metrics
