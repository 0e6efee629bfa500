"""Ensemble members that misbehave: remote servers that answer short, garbage, NaN or 401, or are
down; a failing member cancels the others; startup failures stop what had started."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, Response
from processes import app_in_thread, free_port
from serving import serving_app
from typer.testing import CliRunner

from rewardkit.cli import app as cli
from rewardkit.config import ModelConfig
from rewardkit.errors import MemberFailedError
from rewardkit.models import load_model
from rewardkit.scoring.ensemble import EnsembleService, gather_or_cancel
from rewardkit.scoring.remote import RemoteMember
from rewardkit.scoring.service import RewardService
from rewardkit.serving import build_ensemble


class Misbehaving:
    """A reward server whose answers the test switches between good and broken."""

    def __init__(self) -> None:
        self.mode = "ok"

    def app(self) -> FastAPI:
        api = FastAPI()

        @api.get("/health")
        async def health():
            return {"status": "ok"}

        @api.post("/get_reward")
        async def get_reward(body: dict):
            n = len(body["query"])
            if self.mode == "short":
                return {"rewards": [0.5] * (n - 1), "scores": [0.5] * (n - 1)}
            if self.mode == "garbage":
                return PlainTextResponse("<html>proxy error</html>")
            if self.mode == "nan":
                return Response('{"rewards": [NaN], "scores": [NaN]}', media_type="application/json")
            if self.mode == "401":
                return Response('{"detail": "bad key"}', status_code=401, media_type="application/json")
            return {"rewards": [0.25] * n, "scores": [0.25] * n}

        return api


@pytest.fixture(scope="module")
def fake():
    server = Misbehaving()
    with app_in_thread(server.app()) as url:
        server.url = url
        yield server


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["short", "garbage", "nan", "401"])
async def test_a_broken_remote_member_is_a_502_naming_it_and_health_recovers(fake, llama_dir, mode):
    model = load_model(llama_dir, ModelConfig())
    app = build_ensemble([model, fake.url], ["llama", "remote"])
    async with serving_app(app) as client:
        fake.mode = mode
        broken = await client.post("/get_reward", json={"query": ["one text"]})
        health = await client.get("/health")
        fake.mode = "ok"
        fixed = await client.post("/get_reward", json={"query": ["one text"]})
        healthy = await client.get("/health")
    assert broken.status_code == 502, broken.text
    assert fake.url in broken.json()["detail"]
    assert health.status_code == 503 and fake.url in health.json()["reason"]
    assert fixed.status_code == 200 and fixed.json()["extra_logs"]["member/remote"] == [0.25]
    assert healthy.status_code == 200


@pytest.mark.anyio
async def test_a_failing_member_cancels_the_others():
    cancelled = asyncio.Event()

    async def never_answers():
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def fails():
        await asyncio.sleep(0)
        raise MemberFailedError("down")

    with pytest.raises(MemberFailedError):
        await gather_or_cancel(never_answers(), fails())
    assert cancelled.is_set()


@pytest.mark.anyio
async def test_startup_failure_stops_the_members_that_started(llama_dir):
    local = RewardService(load_model(llama_dir, ModelConfig()))
    down = RemoteMember(f"http://127.0.0.1:{free_port()}")
    ensemble = EnsembleService([local, down], ["llama", "down"])
    with pytest.raises(MemberFailedError, match="health"):
        await ensemble.start()
    assert not local.healthy


def test_cli_refuses_a_down_member_or_bad_reference_before_serving(llama_dir, tmp_path):
    runner = CliRunner()
    down = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(cli, ["serve", str(llama_dir), down])
    assert result.exit_code == 2 and down in result.output
    reference = tmp_path / "ref.jsonl"
    reference.write_text(json.dumps({"nothing": 1}) + "\n")
    result = runner.invoke(cli, ["serve", str(llama_dir), str(llama_dir), "--standardize", str(reference)])
    assert result.exit_code == 2 and "ref.jsonl:1" in result.output


def test_cli_reports_an_unreachable_scorer_and_bad_ns(tmp_path, llama_dir):
    pool = tmp_path / "pool.jsonl"
    pool.write_text(json.dumps({"prompt": "p", "candidates": ["a", "b"]}) + "\n")
    runner = CliRunner()
    result = runner.invoke(cli, ["bon", "eval", str(pool), "-m", f"http://127.0.0.1:{free_port()}"])
    assert result.exit_code == 2 and "error:" in result.output
    result = runner.invoke(cli, ["bon", "eval", str(pool), "-m", str(llama_dir), "--ns", "0,1"])
    assert result.exit_code == 2 and "at least 1" in result.output
