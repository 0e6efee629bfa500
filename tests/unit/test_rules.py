"""Reward functions: specs, calling forms, the built-in rules and the weighted combination."""

from __future__ import annotations

import math

import pytest

from rewardkit.config import RewardsConfig
from rewardkit.errors import InvalidInputError
from rewardkit.rules import Composite, Sample, load_rule, parse_weights, samples_from
from rewardkit.rules.builtin import final_answer_label, length_penalty, math_reward
from rewardkit.rules.loading import rule_names
from rewardkit.rules.sample import samples_from_conversations

RULES = """
def reward_func(queries, prompts, labels):
    return {"rewards": [float(len(q)) for q in queries], "extra_logs": {"chars": [len(q) for q in queries]}}

def plain_list(queries, prompts, labels, **kwargs):
    return [1.0] * len(queries)

def short(response, label):
    return float(len(response) < int(label))

def everything(**parts):
    return float(sorted(parts) == ["label", "prompt", "query", "response"])

def bad_names(text, gold):
    return 0.0

def wrong_count(queries, prompts, labels):
    return [1.0]

def nan(response):
    return float("nan")

async def later(response):
    return 2.0

def verl_style(solution_str, ground_truth, **kwargs):
    return 0.0

def with_options(response, scale=2.0, **kwargs):
    return scale * len(response)

def nan_logs(queries, prompts, labels):
    return {"rewards": [1.0], "extra_logs": {"x": [float("nan")]}}
"""


@pytest.fixture
def rules_file(tmp_path):
    path = tmp_path / "my_rules.py"
    path.write_text(RULES)
    return path


def test_the_response_is_the_query_after_its_prompt():
    assert Sample("Q: 2+2?\nA: 4", "Q: 2+2?\nA:", "4").response == " 4"
    assert Sample("something else", "Q:", None).response == "something else"  # prompt not its start
    assert Sample("text").response == "text"
    (conv,) = samples_from_conversations(
        [[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]], [1]
    )
    assert (conv.response, conv.prompt, conv.label) == ("a", "q", 1)


@pytest.mark.parametrize(
    ("response", "label", "expected"),
    [
        ("48 + 24 = 72 clips in all.", "72", 1.0),
        ("She sold 48/2 = 24 in May.\n#### 72", "Natalia sold 48/2 = 24 clips in May.\n#### 72", 1.0),
        ("So the answer is $\\boxed{\\frac{1}{2}}$.", "0.5", 1.0),
        ("The total is 1,000 dollars.", 1000, 1.0),
        ("<think>3 + 4 = 8? no, 7</think><answer>7</answer>", "7", 1.0),
        ("The answer is 71.", "72", 0.0),
        ("I do not know.", "72", 0.0),
        # the README's RLVR example
        (" 12 * 6 = 72 rolls, 72 - 50 = 22.\n#### 22", "#### 22", 1.0),
        (" 72 - 50 = 12.\n#### 12", "#### 22", 0.0),
    ],
)
def test_math_checks_the_final_answer(response, label, expected):
    assert math_reward(response, label) == expected


def test_math_needs_a_readable_label():
    with pytest.raises(ValueError, match="needs a label"):
        math_reward("72", None)
    with pytest.raises(ValueError, match="string or number"):
        math_reward("72", {"answer": 72})
    assert final_answer_label("work...\n#### 1,000 ") == "1,000"


def test_format_matches_the_whole_response():
    rule = load_rule("format")
    assert rule.score_one(Sample("<think>hm</think>\n<answer>4</answer>")) == 1.0
    assert rule.score_one(Sample("<answer>4</answer>")) == 0.0
    custom = load_rule("format", RewardsConfig(format_pattern=r".*\\boxed\{.+\}.*"))
    assert custom.score_one(Sample("so \\boxed{4}.")) == 1.0


def test_length_penalty_is_dapos_soft_overlong_punishment():
    assert length_penalty(3000, 4000, 1000, 1.0) == 0.0
    assert length_penalty(3500, 4000, 1000, 1.0) == pytest.approx(-0.5)
    assert length_penalty(4000, 4000, 1000, 2.0) == pytest.approx(-2.0)
    assert length_penalty(9000, 4000, 1000, 1.0) == pytest.approx(-1.0)
    rule = load_rule("length", RewardsConfig(max_response_chars=10, overlong_buffer_chars=4))
    assert rule.score_one(Sample("x" * 8)) == pytest.approx(-0.5)
    with pytest.raises(InvalidInputError, match="larger than"):
        load_rule("length", RewardsConfig(max_response_chars=10, overlong_buffer_chars=40))


def test_openrlhf_batch_form_with_extra_logs(rules_file):
    rule = load_rule(f"{rules_file}:reward_func")
    assert rule.batched and rule.name == "reward_func"
    out = rule.score_batch(samples_from(["ab", "abcd"], None, None))
    assert out.rewards == [2.0, 4.0] and out.extra_logs == {"reward_func/chars": [2.0, 4.0]}
    assert load_rule(f"ones={rules_file}:plain_list").score_batch(samples_from(["a"], None, None)).rewards == [1.0]


def test_per_sample_form_gets_the_parts_it_names(rules_file):
    rule = load_rule(f"{rules_file}:short")
    assert not rule.batched
    assert rule.score_one(Sample("P: hi", "P:", 5)) == 1.0  # response " hi" is 3 chars
    assert load_rule(f"{rules_file}:everything").score_one(Sample("q", "p", 1)) == 1.0
    assert load_rule(f"{rules_file}:later").score_one(Sample("q")) == 2.0  # async functions are awaited


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nonsense", "FILE.py:NAME"),
        ("missing.py:f", "no file"),
        ("{file}:absent", "defines no function 'absent'"),
        ("{file}:bad_names", "neither OpenRLHF's"),
    ],
)
def test_bad_specs_say_what_to_fix(rules_file, spec, message):
    with pytest.raises(InvalidInputError, match=message):
        load_rule(spec.format(file=rules_file))


def test_a_file_that_fails_to_import_is_named(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('half written')\n")
    with pytest.raises(InvalidInputError, match="half written"):
        load_rule(f"{broken}:f")


def test_bad_returns_are_refused(rules_file):
    with pytest.raises(ValueError, match="returned 1 values for 2 queries"):
        load_rule(f"{rules_file}:wrong_count").score_batch(samples_from(["a", "b"], None, None))
    with pytest.raises(ValueError, match="finite"):
        load_rule(f"{rules_file}:nan").score_one(Sample("q"))


def test_rule_names_must_be_unique_and_not_model(rules_file):
    with pytest.raises(InvalidInputError, match="two rules are named 'math'"):
        rule_names([load_rule("math"), load_rule("math")])
    with pytest.raises(InvalidInputError, match="'model' names a part of the model's own logs"):
        rule_names([load_rule("model=format")])
    assert rule_names([load_rule("math"), load_rule("strict=math")]) == ["math", "strict"]


def test_weights_and_the_combination():
    weights = parse_weights("model=1, math=0.5", ["model", "math", "format"])
    assert weights == {"model": 1.0, "math": 0.5, "format": 1.0}
    combined = Composite(["model", "math", "format"], "model=2,math=0.5,format=-1").combine(
        {"model": [0.25, -1.0], "math": [1.0, 0.0], "format": [1.0, 1.0]}
    )
    assert combined == [2 * 0.25 + 0.5 - 1, -2.0 - 1]
    assert math.isclose(Composite(["a"]).combine({"a": [0.1]})[0], 0.1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("length=1", "NAME one of model, math"),
        ("math", "not NAME=WEIGHT"),
        ("math=x", "not a number"),
        ("math=1,math=2", "given twice"),
        ("math=inf", "finite"),
    ],
)
def test_bad_weights_are_refused(text, message):
    with pytest.raises(InvalidInputError, match=message):
        parse_weights(text, ["model", "math"])


def test_kwargs_do_not_hide_unknown_required_parameters(rules_file):
    with pytest.raises(InvalidInputError, match="neither OpenRLHF's"):
        load_rule(f"{rules_file}:verl_style")
    assert load_rule(f"{rules_file}:with_options").score_one(Sample("abc")) == 6.0


def test_reserved_log_names_cannot_name_a_rule():
    for name in ("truncated", "num_tokens", "member/x"):
        with pytest.raises(InvalidInputError, match="model's own logs"):
            rule_names([load_rule(f"{name}=format")])


def test_non_finite_extra_logs_are_refused(rules_file):
    with pytest.raises(ValueError, match="extra_logs"):
        load_rule(f"{rules_file}:nan_logs").score_batch(samples_from(["q"], None, None))
