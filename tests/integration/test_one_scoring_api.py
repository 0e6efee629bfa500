"""One scoring API: the same input gets the same reward from RewardModel, the served routes and the
Client (in-process server, real model); texts and conversations go through one `score()`; /rank and
/best_of_n read the same body and break ties the same way; empty input gets the same answer
everywhere."""

from __future__ import annotations

import httpx
import pytest
from serving import serving_app

from rewardkit import AsyncClient, RewardModel
from rewardkit.errors import InvalidInputError
from rewardkit.serving import build
from rewardkit.types import ScoreResult

pytestmark = pytest.mark.anyio

PROMPT = "How do I keep basil alive indoors?"
ANSWERS = ["Water it daily and give it sun.", "Basil needs light.", "Water it daily and give it sun.", "No idea."]


def chat(answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": PROMPT}, {"role": "assistant", "content": answer}]


@pytest.fixture(scope="module")
def model(checkpoint):
    return RewardModel.load(checkpoint("llama"))


@pytest.fixture
async def served(model):
    """An AsyncClient and a raw httpx client on the same in-process server."""
    async with serving_app(build(model.model, model.config)) as raw:
        rk = AsyncClient("http://rk", transport=httpx.ASGITransport(app=raw.app))
        try:
            yield rk, raw
        finally:
            await rk.aclose()


async def test_the_same_input_gets_the_same_reward_from_every_front_and_route(model, served):
    rk, raw = served
    conversations = [chat(a) for a in ANSWERS]
    texts = [model.model.tokenizer.apply_chat_template(c, tokenize=False) for c in conversations]
    local = model.score(conversations)
    assert model.score(texts) == pytest.approx(local, abs=1e-5)
    assert await rk.score(conversations) == pytest.approx(local, abs=1e-5)
    assert await rk.score(texts) == pytest.approx(local, abs=1e-5)
    results = await rk.score_results(conversations)
    assert all(isinstance(r, ScoreResult) for r in results)
    assert [r.num_tokens for r in results] == [r.num_tokens for r in model.score_results(conversations)]
    got = (await raw.post("/get_reward", json={"query": texts})).json()["rewards"]
    assert got == pytest.approx(local, abs=1e-5)
    body = {"prompt": PROMPT, "candidates": ANSWERS}
    ranked = (await raw.post("/rank", json=body)).json()
    best = (await raw.post("/best_of_n", json=body)).json()
    assert ranked["scores"] == pytest.approx(local, abs=1e-5) and best["scores"] == ranked["scores"]
    # identical candidates (0 and 2) are scored once, so they tie exactly and the earlier one ranks first
    assert ranked["order"] == best["order"] == model.rank(ANSWERS, prompt=PROMPT).order
    assert ranked["scores"][0] == ranked["scores"][2] and ranked["order"].index(0) < ranked["order"].index(2)


async def test_empty_input_gets_the_same_answer_everywhere(model, served):
    rk, raw = served
    assert model.score([]) == [] and await rk.score([]) == [] and await rk.score_results([]) == []
    assert (await raw.post("/get_reward", json={"query": []})).json()["rewards"] == []
    assert (await raw.post("/score", json={"conversations": []})).json()["scores"] == []
    for route in ("/rank", "/best_of_n"):
        refused = await raw.post(route, json={"prompt": PROMPT, "candidates": []})
        assert refused.status_code == 422 and "candidates" in refused.text
    for method in (model.rank, model.best_of_n):
        with pytest.raises(InvalidInputError):
            method([], prompt=PROMPT)


async def test_a_mix_of_texts_and_conversations_is_refused_before_any_request(served):
    rk, _ = served
    with pytest.raises(InvalidInputError, match="mix full texts"):
        await rk.score(["a text", chat("an answer")])
