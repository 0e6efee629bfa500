"""vLLM's and TEI's routes (in-process, a real tiny Llama classifier): the exact bodies their
clients send, every field of the documented answers, and numbers equal to /get_reward's and
/score's for the same text."""

from __future__ import annotations

import base64
import math
import struct

import pytest
import tiny_custom
import tiny_models
from serving import serving

from rewardkit.config import ModelConfig
from rewardkit.models import load_model

pytestmark = pytest.mark.anyio

CHAT = [{"role": "user", "content": "What is the capital of France?"}, {"role": "assistant", "content": "Paris."}]
DOCUMENTS = ["Paris.", "London is the capital of France.", "It is Paris, on the Seine."]
USAGE_KEYS = {
    "prompt_tokens",
    "total_tokens",
    "completion_tokens",
    "prompt_tokens_details",
    "completion_tokens_details",
}


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def conversation(query: str, document: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": query}, {"role": "assistant", "content": document}]


@pytest.fixture
def llama(llama_dir):
    return load_model(llama_dir)


def verl_input(tokenizer, chat) -> str:
    """What verl's reward loop sends as 'input': the RM's chat template applied, its BOS stripped."""
    text = tokenizer.apply_chat_template(chat, add_generation_prompt=False, tokenize=False)
    return text.removeprefix(tokenizer.bos_token) if tokenizer.bos_token else text


async def test_verls_exact_classify_body_reads_the_reward(llama, llama_dir):
    text = verl_input(llama.tokenizer, CHAT)
    reference = tiny_models.reference_classifier_score(llama_dir, tiny_models.reference_ids(llama.tokenizer, text))
    async with serving(llama) as c:
        body = {"model": "/models/my-rm", "input": text, "use_activation": False}
        answer = (await c.post("/classify", json=body, headers={"X-Request-Id": "abc"})).json()
        reward = (await c.post("/get_reward", json={"query": [text]})).json()["rewards"][0]
        old_verl = (await c.post("/classify", json={"model": "x", "input": text, "activation": False})).json()
    assert answer["data"][-1]["probs"][-1] == pytest.approx(reward, abs=1e-6)
    assert reward == pytest.approx(reference, abs=1e-4)
    assert old_verl["data"][-1]["probs"][-1] == pytest.approx(reward, abs=1e-6)
    assert set(answer) == {"id", "object", "created", "model", "data", "usage"}
    assert answer["id"] == "classify-abc" and answer["object"] == "list" and isinstance(answer["created"], int)
    assert answer["model"] == "rewardkit"
    # the later request takes the text's prefix from the cache: equal to float noise
    probs = [pytest.approx(reward, abs=1e-6)]
    assert answer["data"] == [{"index": 0, "label": "LABEL_0", "probs": probs, "num_classes": 1}]
    assert set(answer["usage"]) == USAGE_KEYS and answer["usage"]["completion_tokens"] == 0
    assert answer["usage"]["prompt_tokens"] == answer["usage"]["total_tokens"] > 0


async def test_classify_lists_messages_activation_and_the_v1_alias(llama):
    texts = ["one text", "another, longer text"]
    async with serving(llama) as c:
        rewards = (await c.post("/get_reward", json={"query": texts})).json()["rewards"]
        listed = (await c.post("/classify", json={"input": texts})).json()
        activated = (await c.post("/v1/classify", json={"input": texts, "use_activation": True})).json()
        parts = [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}]} for m in CHAT]
        chat = (await c.post("/classify", json={"messages": parts})).json()
        scored = (await c.post("/score", json={"messages": CHAT})).json()
    assert [d["index"] for d in listed["data"]] == [0, 1]
    assert [d["probs"][0] for d in listed["data"]] == pytest.approx(rewards, abs=1e-6)
    assert [d["probs"][0] for d in activated["data"]] == pytest.approx([sigmoid(r) for r in rewards], abs=1e-6)
    assert chat["data"][0]["probs"] == pytest.approx([scored["score"]], abs=1e-6)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"input": [1, 2, 3]}, "token-id input is not served"),
        ({"input": []}, "'input' is empty"),
        ({"input": "a", "messages": CHAT}, "exactly one of 'input'"),
        ({"input": "a", "add_special_tokens": False}, "add_special_tokens=false"),
        ({"input": "a", "truncate_prompt_tokens": 8}, "--max-length 8"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}, "only text parts"),
    ],
)
async def test_classify_refusals_come_in_vllms_error_shape(llama, body, message):
    async with serving(llama) as c:
        r = await c.post("/classify", json=body)
    assert r.status_code == 400
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == 400
    assert error["type"] == "BadRequestError" and message in error["message"]


async def test_pooling_classify_and_base64(llama):
    async with serving(llama) as c:
        reward = (await c.post("/get_reward", json={"query": ["some text"]})).json()["rewards"][0]
        plain = (await c.post("/pooling", json={"input": "some text", "task": "classify"})).json()
        packed = (await c.post("/v1/pooling", json={"input": ["some text"], "encoding_format": "base64"})).json()
        embed = await c.post("/pooling", json={"input": "x", "task": "embed"})
        steps = await c.post("/pooling", json={"input": "x", "task": "token_classify"})
        removed = await c.post("/pooling", json={"input": "x", "task": "score"})
    assert plain["id"].startswith("pooling-") and plain["object"] == "list"
    assert plain["data"] == [{"index": 0, "object": "pooling", "data": [pytest.approx(reward, abs=1e-6)]}]
    (decoded,) = struct.unpack("<1f", base64.b64decode(packed["data"][0]["data"]))
    assert decoded == pytest.approx(reward, abs=1e-5)
    assert embed.status_code == 400 and "'classify'" in embed.json()["error"]["message"]
    assert steps.status_code == 400 and "process reward model" in steps.json()["error"]["message"]
    assert removed.status_code == 400 and "use task 'classify'" in removed.json()["error"]["message"]


async def test_pooling_token_classify_gives_a_process_reward_models_steps(checkpoint):
    path = checkpoint("qwen2_prm")
    model = load_model(path, ModelConfig(trust_remote_code=True))
    text = "step one<extra_0>step two<extra_0>"
    steps = tiny_custom.reference_step_scores(path, tiny_models.reference_ids(model.tokenizer, text))
    async with serving(model, ModelConfig(trust_remote_code=True)) as c:
        default = (await c.post("/pooling", json={"input": [text]})).json()
        classify = (await c.post("/pooling", json={"input": [text], "task": "classify"})).json()
    rows = default["data"][0]["data"]
    assert [row[0] for row in rows] == pytest.approx(steps, abs=1e-4) and all(len(row) == 1 for row in rows)
    assert classify["data"][0]["data"] == [pytest.approx(min(steps), abs=1e-4)]


async def test_vllm_score_in_each_body_shape_equals_rewardkits_score(llama):
    query = CHAT[0]["content"]
    async with serving(llama) as c:
        ours = (await c.post("/score", json={"conversations": [conversation(query, d) for d in DOCUMENTS]})).json()
        one_to_n = (await c.post("/score", json={"model": "m", "queries": query, "documents": DOCUMENTS})).json()
        legacy = (await c.post("/score", json={"text_1": [query] * 3, "text_2": DOCUMENTS})).json()
        data = (await c.post("/v1/score", json={"data_1": [query], "data_2": DOCUMENTS})).json()
        items = (
            await c.post("/v1/score", json={"queries": [query], "items": DOCUMENTS, "use_activation": True})
        ).json()
        uneven = await c.post("/score", json={"queries": ["a", "b"], "documents": DOCUMENTS})
    expected = ours["scores"]
    for answer in (one_to_n, legacy, data):
        assert answer["id"].startswith("score-") and answer["object"] == "list" and answer["model"] == "rewardkit"
        assert [d["index"] for d in answer["data"]] == [0, 1, 2] and {d["object"] for d in answer["data"]} == {"score"}
        assert [d["score"] for d in answer["data"]] == pytest.approx(expected, abs=1e-6)
    assert [d["score"] for d in items["data"]] == pytest.approx([sigmoid(s) for s in expected], abs=1e-6)
    assert uneven.status_code == 400 and "1:1, 1:N or N:N" in uneven.json()["error"]["message"]


async def test_vllm_rerank_orders_by_reward_on_every_path(llama):
    query = CHAT[0]["content"]
    async with serving(llama) as c:
        scores = (await c.post("/score", json={"conversations": [conversation(query, d) for d in DOCUMENTS]})).json()
        answers = [
            (await c.post(path, json={"model": "m", "query": query, "documents": DOCUMENTS, "top_n": 2})).json()
            for path in ("/rerank", "/v1/rerank", "/v2/rerank")
        ]
        everything = (await c.post("/rerank", json={"query": query, "documents": DOCUMENTS})).json()
    order = sorted(range(3), key=lambda i: -scores["scores"][i])
    for answer in answers:
        assert set(answer) == {"id", "model", "usage", "results"} and set(answer["usage"]) == {
            "prompt_tokens",
            "total_tokens",
        }
        assert [r["index"] for r in answer["results"]] == order[:2]
        assert [r["document"] for r in answer["results"]] == [
            {"text": DOCUMENTS[i], "multi_modal": None} for i in order[:2]
        ]
        assert [r["relevance_score"] for r in answer["results"]] == pytest.approx(
            [scores["scores"][i] for i in order[:2]], abs=1e-6
        )
    assert len(everything["results"]) == 3


async def test_v1_models_lists_the_served_model(llama):
    async with serving(llama) as c:
        answer = (await c.get("/v1/models")).json()
        info = (await c.get("/info")).json()
    assert answer["object"] == "list"
    (card,) = answer["data"]
    assert card["id"] == "rewardkit" == info["served_model_name"] and card["object"] == "model"
    assert card["max_model_len"] == info["max_length"] and card["root"] == info["path"] and card["parent"] is None
    assert card["permission"][0]["object"] == "model_permission"


async def test_tei_predict_single_pair_and_batch(llama):
    query, document = CHAT[0]["content"], CHAT[1]["content"]
    async with serving(llama) as c:
        text_reward = (await c.post("/get_reward", json={"query": ["plain text"]})).json()["rewards"][0]
        pair_reward = (await c.post("/score", json={"messages": CHAT})).json()["score"]
        single = (await c.post("/predict", json={"inputs": "plain text", "raw_scores": True})).json()
        default = (await c.post("/predict", json={"inputs": "plain text"})).json()
        pair = (await c.post("/predict", json={"inputs": [query, document], "raw_scores": True})).json()
        batch = (
            await c.post("/predict", json={"inputs": [["plain text"], [query, document]], "raw_scores": True})
        ).json()
        flat = await c.post("/predict", json={"inputs": ["a", "b", "c"]})
    assert single == [{"score": pytest.approx(text_reward, abs=1e-6), "label": "LABEL_0"}]
    assert default[0]["score"] == pytest.approx(sigmoid(text_reward), abs=1e-6)
    assert pair[0]["score"] == pytest.approx(pair_reward, abs=1e-6)
    assert [b[0]["score"] for b in batch] == pytest.approx([text_reward, pair_reward], abs=1e-6)
    assert flat.status_code == 422 and flat.json()["error_type"] == "Validation" and "pair" in flat.json()["error"]


async def test_tei_rerank_is_told_apart_from_vllms_by_its_fields(llama):
    query = CHAT[0]["content"]
    async with serving(llama) as c:
        scores = (await c.post("/score", json={"conversations": [conversation(query, d) for d in DOCUMENTS]})).json()
        answer = (await c.post("/rerank", json={"query": query, "texts": DOCUMENTS, "raw_scores": True})).json()
        with_text = (await c.post("/rerank", json={"query": query, "texts": DOCUMENTS, "return_text": True})).json()
        empty = await c.post("/rerank", json={"query": query, "texts": []})
    order = sorted(range(3), key=lambda i: -scores["scores"][i])
    assert [r["index"] for r in answer] == order and all(set(r) == {"index", "score"} for r in answer)
    assert [r["score"] for r in answer] == pytest.approx([scores["scores"][i] for i in order], abs=1e-6)
    assert [r["text"] for r in with_text] == [DOCUMENTS[i] for i in order]
    assert [r["score"] for r in with_text] == pytest.approx([sigmoid(scores["scores"][i]) for i in order], abs=1e-6)
    assert empty.status_code == 400 and empty.json()["error_type"] == "Empty"


async def test_a_multi_objective_model_reports_every_objective_and_the_reward_last(checkpoint):
    path = checkpoint("armo_gating")
    config = ModelConfig(trust_remote_code=True)
    model = load_model(path, config)
    async with serving(model, config) as c:
        scored = (await c.post("/score", json={"messages": CHAT})).json()
        answer = (await c.post("/classify", json={"messages": CHAT})).json()
        activated = (await c.post("/classify", json={"messages": CHAT, "use_activation": True})).json()
    (item,) = answer["data"]
    objectives = scored["objectives"]
    assert item["probs"] == pytest.approx([*objectives.values(), scored["score"]], abs=1e-6)
    assert item["num_classes"] == len(objectives) + 1
    assert item["label"] == [*objectives, "reward"][item["probs"].index(max(item["probs"]))]
    probs = activated["data"][0]["probs"]
    assert sum(probs[:-1]) == pytest.approx(1.0) and probs[-1] == pytest.approx(sigmoid(scored["score"]), abs=1e-6)


async def test_the_openapi_document_still_builds(llama):
    async with serving(llama) as c:
        paths = (await c.get("/openapi.json")).json()["paths"]
    assert {"/classify", "/pooling", "/score", "/v1/score", "/rerank", "/v1/models", "/predict"} <= set(paths)
