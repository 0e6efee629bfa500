"""Recipes (src/rewardkit/models/recipes/): each family's tiny checkpoint in its real layout, scored
against an independent reference that follows its model card's snippet on one unpadded sequence
(tests/tiny_recipes.py): rewards and step scores within 1e-4 in shuffled mixed batches, packed and
padded, and over HTTP; detection from what is on disk; clear errors at load."""

from __future__ import annotations

import random
import shutil
import statistics

import pytest
import tiny_models
import tiny_recipes
from batch_checks import TOL, assert_batch_independent
from serving import serving

from rewardkit import RewardModel
from rewardkit.config import ModelConfig
from rewardkit.errors import ModelLoadError
from rewardkit.models import load_model

# the folder names the published checkpoints have on disk (a download or a hub cache keeps them)
FOLDERS = {
    "math_shepherd": "math-shepherd-mistral-7b-prm",
    "rlhflow_prm": "Llama3.1-8B-PRM-Deepseek-Data",
    "nemotron_reward": "Llama-3.1-Nemotron-70B-Reward-HF",
    "qwen2_verifier": "verifier",
    "internlm2_reward": "internlm2-1_8b-reward",
    "inf_orm": "INF-ORM-Llama3.1-70B",
    "athene_rm": "Athene-RM-8B",
    "starling_rm": "Starling-RM-34B",
    "ultrarm": "UltraRM-13b",
    "eurus_rm": "Eurus-RM-7b",
    "grm": "GRM-Llama3.2-3B-rewardmodel-ft",
}


@pytest.fixture(scope="module")
def recipe_dir(tmp_path_factory):
    """recipe_dir(name) -> the folder of a tiny checkpoint, built on first use."""
    root = tmp_path_factory.mktemp("recipes")
    built = {}

    def get(name: str):
        if name not in built:
            built[name] = tiny_recipes.BUILDERS[name](root / FOLDERS[name])
        return built[name]

    return get


RECIPE_OF = {
    "math_shepherd": "math-shepherd",
    "rlhflow_prm": "rlhflow-prm",
    "nemotron_reward": "nemotron-reward",
    "qwen2_verifier": "yes-no-verifier",
    "internlm2_reward": "internlm2-reward",
    "inf_orm": "inf-orm",
    "athene_rm": "athene-rm",
    "starling_rm": "starling-rm",
    "ultrarm": "ultrarm",
    "eurus_rm": "ultrarm",
    "grm": "grm",
}


def copy_as(path, name: str):
    """The same checkpoint under another folder name."""
    target = path.parent / name
    if not target.exists():
        shutil.copytree(path, target)
    return target


def conversation(prompt: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def problems(n_questions: int = 4, answers: int = 3, seed: int = 0, make=None):
    """(prompt, answer) pairs, several answers per question (so prompts are shared in a batch)."""
    rng = random.Random(seed)
    make = make or (lambda r: tiny_recipes.shepherd_answer(r))
    out = []
    for _ in range(n_questions):
        prompt = tiny_recipes.question(rng)
        out += [(prompt, make(rng)) for _ in range(answers)]
    return out


def results_of(model):
    """Each conversation's [reward, *step scores], what the references give."""
    return lambda conversations: [[r.score, *(r.steps or ())] for r in model.score_results(conversations)]


# ---- math-shepherd -------------------------------------------------------------------------------


def shepherd_expected(path, prompt, answer, aggregate=min):
    steps = tiny_recipes.reference_math_shepherd(path, prompt, answer)
    reward = aggregate(steps) if steps else tiny_recipes.reference_math_shepherd_last(path, prompt, answer)
    return [reward, *steps]


@pytest.mark.parametrize("packing", [True, False])
def test_math_shepherd_matches_the_card_in_any_batch(recipe_dir, packing):
    path = recipe_dir("math_shepherd")
    model = RewardModel.load(path, packing=packing)
    assert model.info.recipe == "math-shepherd" and model.info.packing.startswith("on" if packing else "off")
    pairs = [*problems(), ("What is 2 + 2?", "It is 4, no steps tagged.")]
    expected = [shepherd_expected(path, p, a) for p, a in pairs]
    assert sum(len(e) - 1 for e in expected) > len(pairs)  # steps were found
    assert_batch_independent(model, [conversation(p, a) for p, a in pairs], expected, results_of(model))


@pytest.mark.parametrize("recipe", ["math_shepherd", "rlhflow_prm"])
def test_answers_scored_one_by_one_take_the_question_from_the_prefix_cache(recipe_dir, recipe):
    path = recipe_dir(recipe)
    model = RewardModel.load(path)
    assert model.info.prefix_cache.startswith("on:")
    make = rlhflow_answer if recipe == "rlhflow_prm" else None
    pairs = problems(2, 3, seed=8, make=make)
    reference = tiny_recipes.reference_rlhflow if recipe == "rlhflow_prm" else tiny_recipes.reference_math_shepherd
    got = [model.score_results([conversation(p, a)])[0] for p, a in pairs]
    assert model.model.cached_tokens > 0
    for (p, a), result in zip(pairs, got):
        assert list(result.steps) == pytest.approx(reference(path, p, a), abs=TOL)


def test_math_shepherd_texts_and_step_aggregation(recipe_dir):
    path = recipe_dir("math_shepherd")
    pairs = problems(2, 2, seed=5)
    texts = [f"{p} {a}" for p, a in pairs]  # the card's own text
    model = RewardModel.load(path, step_aggregation="mean")
    got = model.score_results(texts)
    for (p, a), result in zip(pairs, got):
        steps = tiny_recipes.reference_math_shepherd(path, p, a)
        assert list(result.steps) == pytest.approx(steps, abs=TOL)
        assert result.score == pytest.approx(statistics.mean(steps), abs=TOL)
    assert model.info.steps["aggregation"] == "mean" and model.info.steps["default_aggregation"] == "min"


def test_math_shepherd_answer_without_a_step_tag_has_no_steps(recipe_dir):
    path = recipe_dir("math_shepherd")
    model = RewardModel.load(path)
    [result] = model.score_results([conversation("What is 3 + 4?", "The answer is 7.")])
    assert result.steps == ()
    expected = tiny_recipes.reference_math_shepherd_last(path, "What is 3 + 4?", "The answer is 7.")
    assert result.score == pytest.approx(expected, abs=TOL)


# ---- rlhflow-prm ---------------------------------------------------------------------------------


def rlhflow_answer(rng, separator="\n\n"):
    return separator.join(tiny_recipes.steps(rng))


@pytest.mark.parametrize("packing", [True, False])
def test_rlhflow_prm_matches_the_cards_loop_in_any_batch(recipe_dir, packing):
    path = recipe_dir("rlhflow_prm")
    model = RewardModel.load(path, packing=packing)
    assert model.info.recipe == "rlhflow-prm" and model.info.steps["aggregation"] == "mean"
    pairs = [*problems(make=rlhflow_answer), ("What is 1 + 1?", "2\n\n")]  # a trailing separator: an empty step
    expected = []
    for p, a in pairs:
        steps = tiny_recipes.reference_rlhflow(path, p, a)
        expected.append([statistics.mean(steps), *steps])
    assert_batch_independent(model, [conversation(p, a) for p, a in pairs], expected, results_of(model))


def test_rlhflow_mistral_data_splits_on_its_step_tag(recipe_dir):
    path = copy_as(recipe_dir("rlhflow_prm"), "Llama3.1-8B-PRM-Mistral-Data")
    model = RewardModel.load(path, step_aggregation="min")
    assert model.info.steps["separator"] == "ки\n" and "Mistral-Data" in model.info.detected_by
    pairs = problems(2, 2, seed=3, make=lambda r: tiny_recipes.shepherd_answer(r))
    got = model.score_results([conversation(p, a) for p, a in pairs])
    for (p, a), result in zip(pairs, got):
        steps = tiny_recipes.reference_rlhflow(path, p, a, separator="ки\n")
        assert len(steps) > 1 and list(result.steps) == pytest.approx(steps, abs=TOL)
        assert result.score == pytest.approx(min(steps), abs=TOL)


# ---- nemotron-reward, yes-no-verifier, internlm2-reward ------------------------------------------


def chats(n: int = 10, seed: int = 0):
    rng = random.Random(seed)
    texts = tiny_models.hh_texts(50)
    out = []
    for _ in range(n):
        prompt = rng.choice(texts)[: rng.randint(20, 120)]
        out += [conversation(prompt, rng.choice(texts)[: rng.randint(5, 150)] or "ok") for _ in range(2)]
    out.append([{"role": "system", "content": "Be brief."}, *conversation("hi", "hello")])
    return out


@pytest.mark.parametrize("packing", [True, False])
def test_nemotron_reward_matches_the_cards_generate(recipe_dir, packing):
    path = recipe_dir("nemotron_reward")
    model = RewardModel.load(path, packing=packing)
    assert model.info.recipe == "nemotron-reward" and "id 0" in model.info.head
    conversations = chats()
    expected = [tiny_recipes.reference_nemotron(path, c) for c in conversations]
    assert_batch_independent(model, conversations, expected, model.score)


JUDGE = "Problem: {{ prompt }}\nCandidate: {{ response }}\nIs the candidate right? Yes or No."


def judged(conversation_, template):
    from jinja2 import Template

    return Template(template).render(prompt=conversation_[-2]["content"], response=conversation_[-1]["content"])


@pytest.mark.parametrize(("packing", "output"), [(True, "probability"), (False, "probability"), (True, "logit-diff")])
def test_yes_no_verifier_matches_a_next_token_reading(recipe_dir, tmp_path, packing, output):
    path = recipe_dir("qwen2_verifier")
    template = tmp_path / "judge.jinja"
    template.write_text(JUDGE)
    model = RewardModel.load(
        path, recipe="yes-no-verifier", judge_template=str(template), verifier_output=output, packing=packing
    )
    conversations = chats(6, seed=2)[:-1]
    expected = [tiny_recipes.reference_verifier(path, judged(c, JUDGE), output=output) for c in conversations]
    assert_batch_independent(model, conversations, expected, model.score)


def test_yes_no_verifier_default_template_and_tokens(recipe_dir):
    from rewardkit.models.recipes.yes_no_verifier import DEFAULT_JUDGE_TEMPLATE

    path = recipe_dir("qwen2_verifier")
    model = RewardModel.load(path, recipe="yes-no-verifier", verifier_tokens="No,Yes")
    c = conversation("Is 2 + 2 = 4?", "Yes, it is.")
    expected = tiny_recipes.reference_verifier(path, judged(c, DEFAULT_JUDGE_TEMPLATE), tokens=("No", "Yes"))
    assert model.score([c]) == pytest.approx([expected], abs=TOL)


def test_internlm2_reward_matches_get_score_in_any_batch(recipe_dir):
    path = recipe_dir("internlm2_reward")
    model = RewardModel.load(path, trust_remote_code=True)
    assert model.info.recipe == "internlm2-reward" and "InternLM2ForRewardModel" in model.info.detected_by
    conversations = chats(8, seed=4)
    expected = [tiny_recipes.reference_internlm2(path, c) for c in conversations]
    assert_batch_independent(model, conversations, expected, model.score)
    # a templated text gets the reward token appended once, whether or not it already ends with it
    tok = model.model.tokenizer
    text = tok.apply_chat_template(conversations[0], tokenize=False)
    token = tiny_recipes.INTERNLM2_REWARD_TOKEN
    assert model.score([text, text + token]) == pytest.approx([expected[0]] * 2, abs=TOL)


@pytest.mark.parametrize("packing", [True, False])
def test_inf_orm_matches_the_cards_class_in_any_batch(recipe_dir, packing):
    path = recipe_dir("inf_orm")
    model = RewardModel.load(path, packing=packing)
    assert model.info.recipe == "inf-orm" and "INFORMForSequenceClassification" in model.info.detected_by
    conversations = chats(8, seed=6)
    expected = [tiny_recipes.reference_inf_orm(path, c) for c in conversations]
    assert_batch_independent(model, conversations, expected, model.score)


@pytest.mark.parametrize("packing", [True, False])
def test_athene_rm_matches_the_cards_pipeline_in_any_batch(recipe_dir, packing):
    path = recipe_dir("athene_rm")
    model = RewardModel.load(path, packing=packing)
    assert model.info.recipe == "athene-rm" and "CustomAutoModelForSequenceClassification" in model.info.detected_by
    conversations = chats(8, seed=7)
    expected = [tiny_recipes.reference_athene(path, c) for c in conversations]
    assert_batch_independent(model, conversations, expected, model.score)
    # a templated text gets the CLS token appended once, whether or not it already ends with it
    text = tiny_recipes._tokenizer(path).apply_chat_template(conversations[0], tokenize=False)
    assert model.score([text, text + tiny_recipes.ATHENE_CLS]) == pytest.approx([expected[0]] * 2, abs=TOL)


@pytest.mark.parametrize("packing", [True, False])
def test_starling_rm_matches_the_cards_class_in_any_batch(recipe_dir, packing):
    path = recipe_dir("starling_rm")
    model = RewardModel.load(path, packing=packing)
    assert model.info.recipe == "starling-rm" and "transformer.*" in model.info.detected_by
    conversations = chats(8, seed=8)
    expected = [tiny_recipes.reference_starling(path, c) for c in conversations]
    assert_batch_independent(model, conversations, expected, model.score)


OPENBMB_TEXT = {"ultrarm": tiny_recipes.ultrarm_text, "eurus_rm": tiny_recipes.eurus_text}


@pytest.mark.parametrize(("name", "packing"), [("ultrarm", True), ("ultrarm", False), ("eurus_rm", True)])
def test_ultrarm_and_eurus_rm_match_their_cards_in_any_batch(recipe_dir, name, packing):
    path = recipe_dir(name)
    model = RewardModel.load(path, packing=packing)  # no --trust-remote-code: Eurus-RM's file is not run
    assert model.info.recipe == "ultrarm"
    pairs = [(c[-2]["content"], c[-1]["content"]) for c in chats(8, seed=9)[:-1]]
    expected = [tiny_recipes.reference_openbmb(path, OPENBMB_TEXT[name](p, a)) for p, a in pairs]
    assert_batch_independent(model, [conversation(p, a) for p, a in pairs], expected, model.score)


@pytest.mark.parametrize("packing", [True, False])
def test_grm_keeps_the_cards_two_bos_in_any_batch(recipe_dir, packing):
    path = recipe_dir("grm")
    model = RewardModel.load(path, packing=packing)
    assert model.info.recipe == "grm" and "GRM-Llama3.2-3B-rewardmodel-ft" in model.info.detected_by
    conversations = chats(8, seed=10)
    expected = [tiny_recipes.reference_grm(path, c) for c in conversations]
    assert_batch_independent(model, conversations, expected, model.score)
    plain = copy_as(path, "my-classifier")  # the same files under another name: the generic format, one BOS
    assert load_model(plain).info.format == "hf-sequence-classification"
    assert RewardModel.load(plain).score(conversations[:1]) != pytest.approx(expected[:1], abs=TOL)


# ---- over HTTP -----------------------------------------------------------------------------------


def http_case(recipe_dir, name):
    """(model options, conversation, its templated text as /get_reward sends it, [reward, *steps])."""
    if name == "math_shepherd":
        path = recipe_dir(name)
        p, a = problems(1, 1, seed=9)[0]
        return path, {}, conversation(p, a), f"{p} {a}", shepherd_expected(path, p, a)
    if name == "rlhflow_prm":
        path = recipe_dir(name)
        p, a = problems(1, 1, seed=9, make=rlhflow_answer)[0]
        steps = tiny_recipes.reference_rlhflow(path, p, a)
        turns = []
        for k, step in enumerate(s.strip() for s in a.split("\n\n")):
            turns += [
                {"role": "user", "content": f"{p} {step}" if k == 0 else step},
                {"role": "assistant", "content": "+"},
            ]
        text = tiny_recipes._tokenizer(path).apply_chat_template(turns, tokenize=False)
        return path, {}, conversation(p, a), text, [statistics.mean(steps), *steps]
    c = chats(1, seed=9)[0]
    path = recipe_dir(name)
    tok = tiny_recipes._tokenizer(path)
    if name == "nemotron_reward":
        return path, {}, c, tok.apply_chat_template(c, tokenize=False), [tiny_recipes.reference_nemotron(path, c)]
    if name == "internlm2_reward":
        text = tok.apply_chat_template(c, tokenize=False)
        return path, {"trust_remote_code": True}, c, text, [tiny_recipes.reference_internlm2(path, c)]
    if name == "inf_orm":
        return path, {}, c, tok.apply_chat_template(c, tokenize=False), [tiny_recipes.reference_inf_orm(path, c)]
    if name == "athene_rm":
        return path, {}, c, tok.apply_chat_template(c, tokenize=False), [tiny_recipes.reference_athene(path, c)]
    if name == "grm":
        return path, {}, c, tok.apply_chat_template(c, tokenize=False), [tiny_recipes.reference_grm(path, c)]
    if name in OPENBMB_TEXT:
        text = OPENBMB_TEXT[name](c[-2]["content"], c[-1]["content"])
        return path, {}, c, text, [tiny_recipes.reference_openbmb(path, text)]
    if name == "starling_rm":
        return path, {}, c, tiny_recipes.starling_text(c), [tiny_recipes.reference_starling(path, c)]
    from rewardkit.models.recipes.yes_no_verifier import DEFAULT_JUDGE_TEMPLATE

    question = judged(c, DEFAULT_JUDGE_TEMPLATE)
    text = tok.apply_chat_template([{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True)
    return path, {"recipe": "yes-no-verifier"}, c, text, [tiny_recipes.reference_verifier(path, question)]


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(FOLDERS))
async def test_recipes_over_http(recipe_dir, name):
    path, options, conv, text, expected = http_case(recipe_dir, name)
    config = ModelConfig(**options)
    model = load_model(path, config)
    stepped = len(expected) > 1
    async with serving(model, config) as c:
        scored = (await c.post("/score", json={"messages": conv})).json()
        got = (await c.post("/get_reward", json={"query": [text]})).json()
        classified = (await c.post("/classify", json={"messages": conv})).json()
        pooled = (await c.post("/pooling", json={"input": [text]})).json()
        info = (await c.get("/info")).json()
    reward = expected[0]
    assert scored["score"] == pytest.approx(reward, abs=TOL)
    assert got["rewards"] == pytest.approx([reward], abs=TOL)
    assert classified["data"][0]["probs"] == pytest.approx([reward], abs=TOL)
    if stepped:
        assert scored["steps"] == pytest.approx(expected[1:], abs=TOL)
        assert got["step_scores"][0] == pytest.approx(expected[1:], abs=TOL)
        rows = pooled["data"][0]["data"]  # token_classify: one [score] row per step
        assert [len(row) for row in rows] == [1] * len(rows)
        assert [row[0] for row in rows] == pytest.approx(expected[1:], abs=TOL)
    else:
        assert pooled["data"][0]["data"] == pytest.approx([reward], abs=TOL)
    assert info["recipe"] == RECIPE_OF[name]
    assert info["reading_rule"] and info["card"] and info["detected_by"]


# ---- detection and errors at load ----------------------------------------------------------------


def test_detection_names_the_recipe_and_why(recipe_dir):
    for name, recipe in [
        ("math_shepherd", "math-shepherd"),
        ("rlhflow_prm", "rlhflow-prm"),
        ("nemotron_reward", "nemotron-reward"),
    ]:
        info = load_model(recipe_dir(name)).info
        assert (info.recipe, info.format) == (recipe, recipe)
        assert FOLDERS[name] in info.detected_by
    info = load_model(recipe_dir("internlm2_reward"), ModelConfig(trust_remote_code=True)).info
    assert info.recipe == "internlm2-reward" and info.format == "internlm2-reward"  # not a DeepSpeed-Chat v-head
    plain = copy_as(recipe_dir("math_shepherd"), "my-model")
    with pytest.raises(ModelLoadError, match="--recipe NAME"):
        load_model(plain)
    assert load_model(plain, ModelConfig(recipe="math-shepherd")).info.detected_by == "--recipe math-shepherd was given"
    with pytest.raises(ModelLoadError, match="--recipe NAME"):
        load_model(recipe_dir("qwen2_verifier"))  # any causal LM: never detected


def test_files_that_say_what_they_are_win_over_a_folders_name(tmp_path):
    """An OpenRLHF value head (legacy config naming LlamaForCausalLM) trained on Math-Shepherd data."""
    path = tiny_models.build_openrlhf_value_head(
        tmp_path / "llama-rm-math-shepherd", prefix="value_head", legacy_config=True
    )
    assert load_model(path).info.format == "value-head"


def test_ambiguous_folder_is_refused(recipe_dir):
    both = copy_as(recipe_dir("rlhflow_prm"), "math-shepherd-vs-Llama3.1-8B-PRM-Deepseek-Data")
    with pytest.raises(ModelLoadError, match=r"several recipes fit.*math-shepherd.*rlhflow-prm"):
        load_model(both)


@pytest.mark.parametrize(
    ("name", "options", "match"),
    [
        ("llama", {"recipe": "math-shepherd"}, "math-shepherd recipe reads the LM head of a causal LM.*ForCausalLM"),
        ("math_shepherd", {"recipe": "rlhflow-prm"}, "no chat template"),
        ("math_shepherd", {"recipe": "nemotron-reward"}, "no chat template"),
        ("rlhflow_prm", {"recipe": "math-shepherd"}, "step tag 'ки'.*not one token"),
        (
            "qwen2_verifier",
            {"recipe": "yes-no-verifier", "verifier_tokens": "Yes,Absolutely"},
            "'Absolutely' as one token",
        ),
        ("qwen2_verifier", {"recipe": "yes-no-verifier", "verifier_tokens": "Yes"}, "two different"),
        ("qwen2_verifier", {"recipe": "yes-no-verifier", "judge_template": "/nonexistent.jinja"}, "no such file"),
        ("math_shepherd", {"recipe": "math-shepherd", "step_separator": "Step 1"}, "step tag 'Step 1'"),
        ("math_shepherd", {"judge_template": "x.jinja"}, "apply to the yes-no-verifier recipe"),
        ("math_shepherd", {"recipe": "prm-of-my-dreams"}, "no such recipe.*math-shepherd"),
        ("math_shepherd", {"recipe": "math-shepherd", "pairwise": True}, "exclude each other"),
        ("internlm2_reward", {}, "--trust-remote-code"),
        ("rlhflow_prm", {"recipe": "inf-orm"}, "score head.*not stored: score.0.weight"),
        ("rlhflow_prm", {"recipe": "athene-rm"}, "athene-rm recipe reads the card's v_head"),
        ("inf_orm", {"recipe": "athene-rm"}, "athene-rm recipe reads the card's v_head"),
        ("math_shepherd", {"recipe": "starling-rm"}, "starling-rm recipe reads the card's v_head"),
        ("inf_orm", {"recipe": "grm"}, "grm recipe reads a transformers classifier; not stored: score.weight"),
        ("math_shepherd", {"recipe": "grm"}, "grm recipe reads a transformers.*ForSequenceClassification"),
        ("athene_rm", {"recipe": "ultrarm"}, "ultrarm recipe reads the card's regression_head"),
        ("athene_rm", {"recipe": "starling-rm"}, "ChatML turns.*<\\|im_start\\|>"),
    ],
)
def test_a_recipe_that_does_not_fit_is_refused_at_load(recipe_dir, checkpoint, name, options, match):
    path = checkpoint(name) if name == "llama" else recipe_dir(name)
    with pytest.raises(ModelLoadError, match=match):
        load_model(path, ModelConfig(**options))


def test_internlm2_without_its_reward_token_is_refused(recipe_dir):
    import json

    path = copy_as(recipe_dir("internlm2_reward"), "internlm2-no-token")
    config = json.loads((path / "config.json").read_text())
    config.pop("reward_token_id")
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="no reward_token_id"):
        load_model(path, ModelConfig(trust_remote_code=True))


def test_info_and_recipes_commands_name_the_recipe(recipe_dir):
    import json

    from typer.testing import CliRunner

    from rewardkit.cli import app

    runner = CliRunner()
    out = runner.invoke(app, ["info", str(recipe_dir("rlhflow_prm")), "--json"])
    assert out.exit_code == 0, out.output
    facts = json.loads(out.output)
    assert facts["recipe"] == "rlhflow-prm" and "-3" in facts["reading_rule"] and "RLHFlow" in facts["card"]
    listed = runner.invoke(app, ["recipes"])
    assert listed.exit_code == 0
    for name in RECIPE_OF.values():
        assert name in listed.output
    one = runner.invoke(app, ["recipes", "yes-no-verifier"])
    assert "default_judge_template" in one.output and "{{ prompt }}" in one.output
