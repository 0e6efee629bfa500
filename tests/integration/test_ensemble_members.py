"""Ensemble members that misbehave: remote servers that answer short, garbage, NaN, 401 or busy, or
are down; a member's health comes from probing its /health, and recovers with the member; a failing
member cancels the others; startup failures stop what had started."""

from __future__ import annotations

import asyncio
import json
from contextlib import ExitStack

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, Response
from processes import app_in_thread, free_port
from serving import serving_app
from typer.testing import CliRunner
from waiting import wait_until_async

from rewardkit.cli import app as cli
from rewardkit.config import ModelConfig
from rewardkit.errors import MemberFailedError
from rewardkit.models import load_model
from rewardkit.scoring.ensemble import EnsembleService, gather_or_cancel
from rewardkit.scoring.member_health import MemberHealth
from rewardkit.scoring.remote import RemoteMember
from rewardkit.scoring.service import RewardService
from rewardkit.serving import build, build_ensemble, create_app


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
            if self.mode == "busy":
                headers = {"Retry-After": "0"}
                return Response(
                    '{"detail": "queue full"}', status_code=503, media_type="application/json", headers=headers
                )
            return {"rewards": [0.25] * n, "scores": [0.25] * n}

        return api


@pytest.fixture(scope="module")
def fake():
    server = Misbehaving()
    with app_in_thread(server.app()) as url:
        server.url = url
        yield server


@pytest.fixture(scope="module")
def llama(llama_dir):
    return load_model(llama_dir, ModelConfig())


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("mode", "status"), [("short", 502), ("garbage", 502), ("nan", 502), ("401", 502), ("busy", 503)]
)
async def test_a_bad_answer_fails_the_request_naming_the_member_and_leaves_health_to_the_probe(
    fake, llama, mode, status
):
    """Health is the member's own /health (200 here), whatever one scoring call got; a busy member's
    503 is passed on as a 503 to retry."""
    app = build_ensemble([llama, fake.url], ["llama", "remote"])
    async with serving_app(app) as client:
        fake.mode = mode
        broken = await client.post("/get_reward", json={"query": ["one text"]})
        health = await client.get("/health")
        fake.mode = "ok"
        fixed = await client.post("/get_reward", json={"query": ["one text"]})
    assert broken.status_code == status, broken.text
    assert fake.url in broken.json()["detail"]
    assert mode != "busy" or int(broken.headers["retry-after"]) >= 1
    assert health.status_code == 200
    assert fixed.status_code == 200 and fixed.json()["extra_logs"]["member/remote"] == [0.25]


async def health_is(client, status: int):
    """The ensemble's /health answer when it has ``status``, else None."""
    answer = await client.get("/health")
    return answer if answer.status_code == status else None


@pytest.mark.anyio
async def test_a_stopped_member_turns_health_503_and_its_restart_200_without_any_scoring(llama, llama_dir):
    """A real member server stopped, then started again on the same port: the ensemble's /health
    follows by probing alone (quick probes here; the defaults are in docs/http-api.md)."""
    port, member_model = free_port(), load_model(llama_dir, ModelConfig())
    with ExitStack() as first_run:
        url = first_run.enter_context(app_in_thread(build(member_model), lifespan="on", port=port))
        member = RemoteMember(url, health=MemberHealth(url, interval=0.1, first_retry=0.1, longest_retry=0.4))
        app = create_app(EnsembleService([RewardService(llama), member], ["llama", "remote"]))
        async with serving_app(app) as client:
            scored = await client.post("/get_reward", json={"query": ["one text"]})
            up = await client.get("/health")
            first_run.close()  # the member server stops
            down = await wait_until_async(lambda: health_is(client, 503), "the ensemble's /health turns 503")
            with app_in_thread(build(member_model), lifespan="on", port=port):  # back, on the same port
                await wait_until_async(lambda: health_is(client, 200), "the ensemble's /health turns 200 again")
                again = await client.post("/get_reward", json={"query": ["one text"]})
    assert scored.status_code == 200 and up.json() == {"status": "ok"}
    assert down.json()["status"] == "unhealthy" and f"ensemble member {url} is down" in down.json()["reason"]
    assert again.status_code == 200 and again.json()["rewards"] == scored.json()["rewards"]


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


@pytest.mark.anyio
async def test_a_member_serving_reward_functions_contributes_its_models_reward(llama, tmp_path):
    """A member that combines its model with reward functions (--reward-fn) gives the ensemble its
    model's own reward, through /get_reward (texts) and /score (conversations) alike."""
    from rewardkit.config import RewardsConfig

    rules = tmp_path / "rules.py"
    rules.write_text("def length(response):\n    return float(len(response))\n")
    texts = ["Water it daily.", "Keep it in the sun and water it when the soil is dry."]
    chats = [[{"role": "user", "content": "q"}, {"role": "assistant", "content": t}] for t in texts]
    combining = build(llama, rewards_config=RewardsConfig(reward_fn=[f"{rules}:length"]))
    async with serving_app(build(llama)) as alone:
        want_texts = (await alone.post("/get_reward", json={"query": texts})).json()["rewards"]
        want_chats = (await alone.post("/score", json={"conversations": chats})).json()["scores"]
    with app_in_thread(combining, lifespan="on") as url:
        combined = httpx.post(url + "/get_reward", json={"query": texts}).json()["rewards"]
        member = RemoteMember(url)
        await member.start()
        try:
            by_text = [r.score for r in await member.score_results(texts)]
            by_chat = [r.score for r in await member.score_results(chats)]
        finally:
            await member.stop()
    assert by_text == pytest.approx(want_texts, abs=1e-5) and by_chat == pytest.approx(want_chats, abs=1e-5)
    assert combined[0] == pytest.approx(want_texts[0] + len(texts[0]), abs=1e-4)  # what it would have averaged
