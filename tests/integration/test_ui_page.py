"""The /ui page without a browser: what its files may refer to, the headers on every /ui answer,
what a key guards, --no-ui, and the JSON metrics the dashboard reads (in-process apps)."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest
from serving import serving, serving_app
from typer.testing import CliRunner

from rewardkit.cli import app as cli
from rewardkit.config import ServerConfig
from rewardkit.models import load_model
from rewardkit.serving import create_app
from rewardkit.serving.rewards import NoModel
from rewardkit.serving.ui import PAGE_PATHS

pytestmark = pytest.mark.anyio

STATIC = files("rewardkit.serving.ui") / "static"
KEY = "page-key"
OTHER_HOST = re.compile(r"https?://|(?:src|href|action)\s*=\s*[\"']?//|url\(\s*[\"']?//|@import|fetch\(\s*[\"'`]//")


def static_files() -> dict[str, str]:
    return {each.name: each.read_text(encoding="utf-8") for each in STATIC.iterdir()}


def test_no_file_of_the_page_refers_to_another_host():
    found = static_files()
    assert {"index.html", "app.js", "style.css", "examples.json"} <= set(found)
    for name, text in found.items():
        assert not OTHER_HOST.search(text), f"{name} refers to another host: {OTHER_HOST.search(text).group()!r}"
    html = found["index.html"]
    links = re.findall(r"(?:src|href)=\"([^\"]*)\"", html)
    assert links and all(link.startswith(("/ui", "data:")) for link in links), links
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script: the CSP forbids it"
    assert not re.search(r"\son[a-z]+\s*=|\sstyle\s*=", html), "inline handlers and styles: the CSP forbids them"
    assert "innerHTML" not in found["app.js"] and "insertAdjacentHTML" not in found["app.js"]


async def test_every_ui_answer_carries_the_security_headers():
    async with serving_app(create_app(NoModel())) as client:
        for path in [*sorted(PAGE_PATHS), "/ui/no-such-file"]:
            response = await client.get(path)
            assert response.status_code == (404 if path == "/ui/no-such-file" else 200), path
            csp = response.headers["content-security-policy"]
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
            assert "unsafe-inline" not in csp
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
        page = await client.get("/ui/metrics")
        assert page.headers["content-type"].startswith("text/html") and page.text == static_files()["index.html"]
        assert (await client.get("/ui/app.js")).headers["content-type"].startswith("text/javascript")
        assert "content-security-policy" not in (await client.get("/info")).headers


async def test_with_a_key_the_page_loads_but_no_data_without_the_key():
    async with serving_app(create_app(NoModel(), ServerConfig(api_key=KEY))) as client:
        for path in PAGE_PATHS:
            assert (await client.get(path)).status_code == 200, path
        for path in ("/info", "/metrics/summary", "/metrics", "/ui/no-such-file"):
            refused = await client.get(path)
            assert refused.status_code == 401, path
        assert "content-security-policy" in refused.headers
        keyed = await client.get("/metrics/summary", headers={"Authorization": f"Bearer {KEY}"})
        assert keyed.status_code == 200


async def test_no_ui_turns_the_page_off():
    async with serving_app(create_app(NoModel(), ServerConfig(ui=False))) as client:
        for path in PAGE_PATHS:
            assert (await client.get(path)).status_code == 404, path
        assert (await client.get("/info")).status_code == 200
    help_text = CliRunner().invoke(cli, ["serve", "--help"], env={"COLUMNS": "250", "TERMINAL_WIDTH": "250"}).output
    assert "--no-ui" in help_text


async def test_metrics_summary_counts_what_prometheus_counts(llama_dir):
    conversations = [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": t}] for t in ("a", "bb c")]
    async with serving(load_model(llama_dir)) as client:
        assert (await client.post("/score", json={"conversations": conversations})).status_code == 200
        assert (await client.post("/score", json={})).status_code == 422
        assert (await client.get("/info")).status_code == 200
        summary = (await client.get("/metrics/summary")).json()
        prometheus = (await client.get("/metrics")).text
    assert summary["requests"]["scoring"] == 2  # the two POSTs; /info and /metrics are not load
    assert summary["requests"]["by_route"]["/score"] == {"200": 1, "422": 1}
    assert summary["requests"]["by_route"]["/info"] == {"200": 1}
    assert summary["sequences_scored"] == 2 and summary["queue_depth"] == 0
    assert summary["errors"] == {"http_422": 1}
    assert summary["tokens"]["real"] > 0 and summary["tokens"]["computed"] >= summary["tokens"]["real"]
    assert summary["batches"]["count"] >= 1 and summary["batches"]["sum"] == 2
    latency = summary["latency_seconds"]
    assert latency["count"] == 2 and latency["buckets"][-1] == [None, 2]
    counts = [count for _, count in latency["buckets"]]
    assert counts == sorted(counts)
    real = re.search(r'rewardkit_batch_tokens_total\{kind="real"\} (\S+)', prometheus).group(1)
    assert summary["tokens"]["real"] == int(float(real))


async def test_metrics_summary_counts_tokens_from_the_prefix_cache(llama_dir):
    import tiny_models

    prompt = tiny_models.hh_texts(1)[0][:300]
    async with serving(load_model(llama_dir)) as client:
        for ending in (" One.", " Two."):  # the second answer takes the prompt's keys and values from the cache
            assert (await client.post("/score", json={"texts": [prompt + ending]})).status_code == 200
        summary = (await client.get("/metrics/summary")).json()
        prometheus = (await client.get("/metrics")).text
    cached = re.search(r'rewardkit_batch_tokens_total\{kind="cached"\} (\S+)', prometheus).group(1)
    assert summary["tokens"]["cached"] == int(float(cached)) >= 16
