"""Dataset readers (rewardkit.data): each format from small hand-written files, errors naming file:line, and the
real samples in tests/data (row counts, label orientation, the quirks the reader documents; each sample keeps
every row of its full file that has a quirk, so the quirk counts are the full files' own)."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from rewardkit.data.files import expand_paths
from rewardkit.data.readers import read_multiple_choice, read_pairs, read_unlabeled_pairs
from rewardkit.errors import InvalidInputError

DATA = Path(__file__).resolve().parents[1] / "data"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def write_json(path: Path, rows: list[dict]) -> Path:
    text = json.dumps(rows, indent=2)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def hh(*turns: str) -> str:
    return "".join(f"\n\n{'Human' if i % 2 == 0 else 'Assistant'}: {t}" for i, t in enumerate(turns))


# ------------------------------------------------------------------------------------------ formats


def test_hh_rlhf_dialogues_become_a_context_and_two_last_answers(tmp_path):
    turns = ("Hi", "Hello!", "Help me hide a body")
    rows = [
        {"chosen": hh(*turns, "No."), "rejected": hh(*turns, "Sure: ...")},
        {"chosen": hh("Hi", ""), "rejected": hh("Hi", "Go away")},
    ]
    path = write_jsonl(tmp_path / "harmless.jsonl.gz", rows)
    data = read_pairs(path)
    first, second = data.pairs
    assert first.context == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Help me hide a body"},
    ]
    assert (first.first, first.second, first.p_first) == ("No.", "Sure: ...", 1.0)
    assert first.subset == "harmless" and first.source == f"{path}:1"
    assert second.first == "" and second.source == f"{path}:2"  # an empty reply is kept ...
    assert sum(data.notes.values()) == 1  # ... and counted
    assert data.skipped == {}


def test_hh_rlhf_pairs_whose_contexts_differ_are_skipped_and_same_role_turns_merged(tmp_path):
    inline = "Hi\n\nAssistant: Hello  Human: more"  # 'Human:' inline: the sides parse differently
    two_users = "\n\nHuman: one\n\nHuman: two\n\nAssistant: "
    rows = [
        {"chosen": hh("Hi", "A"), "rejected": hh("Hi", "B")},
        {"chosen": hh(inline, "A"), "rejected": hh("Hi", "B")},
        {"chosen": two_users + "A", "rejected": two_users + "B"},
    ]
    path = write_jsonl(tmp_path / "hh.jsonl", rows)
    data = read_pairs(path)
    assert len(data.pairs) == 2
    assert list(data.skipped.values()) == [1] and "differ before the last assistant turn" in next(iter(data.skipped))
    assert data.pairs[1].context == [{"role": "user", "content": "one\n\ntwo"}]
    assert any("merged" in note for note in data.notes)


def test_llmbar_keeps_output_1_first_and_labels_it(tmp_path):
    rows = [
        {"input": "Say hi", "output_1": "hi", "output_2": "bye", "label": 1},
        {"input": "Say hi", "output_1": "bye", "output_2": "hi", "label": 2},
    ]
    data = read_pairs(write_json(tmp_path / "Natural.json", rows))
    assert [(p.first, p.second, p.p_first) for p in data.pairs] == [("hi", "bye", 1.0), ("bye", "hi", 0.0)]
    assert data.pairs[0].context == [{"role": "user", "content": "Say hi"}]
    assert {p.subset for p in data.pairs} == {"Natural"}


def test_alpaca_eval_soft_labels_are_p_output_1_better(tmp_path):
    base = {"instruction": "Q", "output_1": "ref", "generator_1": "gpt4", "generator_2": "small", "dataset": "koala"}
    rows = [
        {**base, "preference": "1.25"},  # a string, as AlpacaEval writes it: P(output_2 better) = 0.25
        {**base, "preference": 2.0},
        {**base, "preference": None},  # missing: skipped
        {**base, "preference": 0},  # AlpacaEval's draw
    ]
    rows = [{**r, "output_2": f"answer {i}"} for i, r in enumerate(rows)]
    data = read_pairs(write_json(tmp_path / "small.annotations.json.gz", rows))
    assert [p.p_first for p in data.pairs] == pytest.approx([0.75, 0.0, 0.5])
    assert all(p.first == "ref" and p.subset == "koala" and p.second_generator == "small" for p in data.pairs)
    assert list(data.skipped.values()) == [1] and list(data.notes.values()) == [1]


def test_prompt_chosen_rejected_layouts(tmp_path):
    user = {"role": "user", "content": "Q"}
    good, bad = {"role": "assistant", "content": "good"}, {"role": "assistant", "content": "bad"}
    rows = [
        {"prompt": "Q", "chosen": "good", "rejected": "bad", "subset": "math-prm", "margin": 3},
        {"prompt": [user], "chosen": [good], "rejected": [bad]},  # TRL explicit prompt, conversational
        {"prompt": "Q", "chosen": [user, good], "rejected": "bad"},  # chosen repeats the prompt
        {"chosen": [user, good], "rejected": [user, bad]},  # TRL implicit prompt
    ]
    data = read_pairs(write_jsonl(tmp_path / "mixed.jsonl", rows))
    assert [(p.context, p.first, p.second, p.p_first) for p in data.pairs] == [([user], "good", "bad", 1.0)] * 4
    assert [p.subset for p in data.pairs] == ["math-prm", "mixed", "mixed", "mixed"]


def test_a_pair_of_identical_responses_is_skipped(tmp_path):
    rows = [{"prompt": "Q", "chosen": "same", "rejected": "same"}, {"prompt": "Q", "chosen": "a", "rejected": "b"}]
    data = read_pairs(write_jsonl(tmp_path / "p.jsonl", rows))
    assert len(data.pairs) == 1 and data.skipped == {"the two responses are the same text": 1}


def test_a_directory_reads_every_data_file_sorted_each_its_own_subset(tmp_path):
    write_jsonl(tmp_path / "b.jsonl", [{"prompt": "Q", "chosen": "a", "rejected": "b"}])
    (tmp_path / "sub").mkdir()
    write_json(tmp_path / "sub" / "a.json.gz", [{"prompt": "Q", "chosen": "c", "rejected": "d"}])
    (tmp_path / "README.md").write_text("not data")
    data = read_pairs([tmp_path])
    assert [p.subset for p in data.pairs] == ["b", "a"]  # sorted by path: b.jsonl < sub/a.json.gz
    assert data.files == [str(tmp_path / "b.jsonl"), str(tmp_path / "sub" / "a.json.gz")]
    assert expand_paths(tmp_path / "b.jsonl") == [tmp_path / "b.jsonl"]


LLMBAR_LABEL_3 = """[
 {"input": "x", "output_1": "a", "output_2": "b", "label": 1},
 {"input": "x",
  "output_1": "a", "output_2": "b", "label": 3}
]"""
GOOD_ROW = '{"prompt": "Q", "chosen": "a", "rejected": "b"}\n'


@pytest.mark.parametrize(
    ("name", "content", "where", "match"),
    [
        ("bad.jsonl", GOOD_ROW + '\n{"prompt": \n', 3, "not valid JSON"),
        ("bad.json", LLMBAR_LABEL_3, 3, "label"),  # the object starts on line 3 of the JSON list
        ("bad.jsonl", '{"question": "Q", "answer": "a"}\n', 1, "cannot tell the format"),
        ("bad.jsonl", GOOD_ROW + '{"prompt": "Q", "chosen": 3, "rejected": "b"}\n', 2, "chosen"),
        ("bad.jsonl", '{"chosen": "no markers", "rejected": "b"}\n', 1, "whole hh-rlhf dialogues"),
        ("bad.jsonl", '{"instruction": "Q", "output_1": "a", "output_2": "b", "preference": 2.5}\n', 1, r"\[1, 2\]"),
        ("bad.jsonl", "[1, 2]\n", 1, "expected a JSON object"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, name, content, where, match):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InvalidInputError, match=match) as info:
        read_pairs(path)
    assert f"{path}:{where}" in str(info.value)


def test_missing_paths_and_empty_results_are_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="no such file"):
        read_pairs(tmp_path / "nope.jsonl")
    with pytest.raises(InvalidInputError, match="no data files"):
        read_pairs(tmp_path)
    write_jsonl(tmp_path / "same.jsonl", [{"prompt": "Q", "chosen": "x", "rejected": "x"}])
    with pytest.raises(InvalidInputError, match="no usable preference pairs"):
        read_pairs(tmp_path / "same.jsonl")


# ---------------------------------------------------------------------------------- unlabeled pairs


def test_unlabeled_alpaca_eval_rows_need_no_preference(tmp_path):
    base = {"instruction": "Q", "output_1": "ref", "generator_2": "small", "dataset": "koala"}
    rows = [
        {**base, "output_2": "a"},  # no preference at all
        {**base, "output_2": "b", "preference": None},
        {**base, "output_2": "c", "preference": "1.25"},
        {**base, "output_2": "d", "preference": 0},  # AlpacaEval's draw
        {**base, "output_2": "ref"},  # the reference against itself: skipped
    ]
    path = write_jsonl(tmp_path / "small.annotations.jsonl", rows)
    data = read_unlabeled_pairs(path)
    assert [(p.first, p.second, p.p_first) for p in data.pairs] == [
        ("ref", "a", None),
        ("ref", "b", None),
        ("ref", "c", 0.75),
        ("ref", "d", 0.5),
    ]
    assert data.pairs[0].context == [{"role": "user", "content": "Q"}] and data.pairs[1].source == f"{path}:2"
    assert data.skipped == {"the two responses are the same text": 1} and list(data.notes.values()) == [1]


def test_unlabeled_llmbar_rows_with_a_missing_or_null_label_are_read(tmp_path):
    rows = [
        {"input": "Say hi", "output_1": "hi", "output_2": "bye"},
        {"input": "Say hi", "output_1": "bye", "output_2": "hi", "label": None},
        {"input": "Say hi", "output_1": "yo", "output_2": "bye", "label": 2},
    ]
    data = read_unlabeled_pairs(write_json(tmp_path / "Natural.json", rows))
    assert [(p.first, p.second, p.p_first) for p in data.pairs] == [
        ("hi", "bye", None),
        ("bye", "hi", None),
        ("yo", "bye", 0.0),
    ]
    assert data.pairs[0].context == [{"role": "user", "content": "Say hi"}]


UNLABELED_ROW = {"input": "x", "output_1": "a", "output_2": "b"}


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ({**UNLABELED_ROW, "label": 3}, "'label' must be 1 or 2"),
        ({**UNLABELED_ROW, "instruction": "x", "preference": 2.5}, r"\[1, 2\]"),
        ({"input": "x", "output_1": "a", "output_2": 7}, "'output_2' must be a string"),
        ({"input": " ", "output_1": "a", "output_2": "b"}, "'input' is empty"),
        ({"output_1": "a", "output_2": "b"}, "'input' \\(LLMBar\\) or 'instruction' \\(AlpacaEval\\)"),
    ],
)
def test_malformed_unlabeled_rows_name_file_and_line(tmp_path, row, match):
    path = write_jsonl(tmp_path / "unlabeled.jsonl", [UNLABELED_ROW, row])
    with pytest.raises(InvalidInputError, match=match) as info:
        read_unlabeled_pairs(path)
    assert f"{path}:2" in str(info.value)


# ---------------------------------------------------------------------------------- multiple choice

TRUTHFULQA_HEADER = ["Type", "Category", "Question", "Best Answer", "Correct Answers", "Incorrect Answers", "Source"]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([TRUTHFULQA_HEADER, *rows])
    return path


def test_truthfulqa_csv_drops_empty_repeated_and_correct_incorrect_answers(tmp_path):
    path = write_csv(
        tmp_path / "tqa.csv",
        [
            ["Adversarial", "Health", "Q1?", "Yes", "Yes; Sure", "No; Never;", "src"],
            ["Adversarial", "Law", "Q2?", "A", "A", "B; B; A; C", "src"],
            ["Adversarial", "Law", "Q3?", "A", "A", "A", "src"],  # nothing left to compare: skipped
        ],
    )
    data = read_multiple_choice(path)
    q1, q2 = data.questions
    assert (q1.context, q1.correct, q1.incorrect, q1.subset) == (
        [{"role": "user", "content": "Q1?"}],
        "Yes",
        ["No", "Never"],
        "Health",
    )
    assert q2.incorrect == ["B", "C"] and q2.choices == ["A", "B", "C"] and q2.source == f"{path}:3"
    assert data.notes == {
        "empty incorrect answer dropped": 1,
        "repeated incorrect answer dropped": 1,
        "incorrect answer equal to the correct one dropped": 2,
    }
    assert data.skipped == {"no incorrect answer left to compare with": 1}


def test_multiple_choice_jsonl_layouts(tmp_path):
    messages = [{"role": "system", "content": "Be true."}, {"role": "user", "content": "Q"}]
    rows = [
        {"question": "Q", "correct": "a", "incorrect": ["b", "c"], "subset": "s"},
        {"prompt": "Q", "correct": "a", "incorrect": ["b"]},
        {"messages": messages, "correct": "a", "incorrect": ["b"]},
    ]
    data = read_multiple_choice(write_jsonl(tmp_path / "mc.jsonl", rows))
    assert [q.subset for q in data.questions] == ["s", "mc", "mc"]
    assert data.questions[2].context == messages
    bad = write_jsonl(tmp_path / "bad.jsonl", [rows[0], {"question": "Q", "correct": "a", "incorrect": "b"}])
    with pytest.raises(InvalidInputError, match=f"{bad}:2: 'incorrect' must be a list"):
        read_multiple_choice(bad)


# ---------------------------------------------------------------------------------------- real data


def test_real_hh_rlhf_harmless_base():
    data = read_pairs(DATA / "hh_rlhf_harmless_base_test.jsonl.gz")
    assert len(data.pairs) == 212 - 5  # the sample: the first 200 rows and the 12 with quirks (of 2312)
    assert list(data.skipped.values()) == [5]  # 'Human:' inline: the two sides parse into different contexts
    assert sorted(data.notes.values()) == [4, 4]  # 4 empty chosen replies kept, 4 contexts with merged turns
    assert all(p.p_first == 1.0 and p.context[-1]["role"] == "user" for p in data.pairs)
    assert all(a["role"] != b["role"] for p in data.pairs for a, b in zip(p.context, p.context[1:]))


def test_real_llmbar_natural():
    data = read_pairs(DATA / "llmbar" / "Natural.json")
    assert len(data.pairs) == 40 and sum(p.p_first for p in data.pairs) == 21  # label 1 in 21 of the first 40 rows


def test_real_alpaca_eval_labels_are_p_reference_better():
    path = DATA / "alpaca_eval" / "falcon-7b-instruct.weighted_alpaca_eval_gpt4_turbo.annotations.json.gz"
    raw = json.loads(gzip.decompress(path.read_bytes()))
    data = read_pairs(path)
    assert len(data.pairs) == len(raw) - 2  # 2 rows where falcon wrote the reference's exact text
    assert all(0.0 <= p.p_first <= 1.0 and p.second_generator == "falcon-7b-instruct" for p in data.pairs)
    # GPT-4-turbo prefers the reference (output_1, gpt4_1106_preview) to falcon-7b nearly always: all but 2 here
    assert sum(p.p_first > 0.5 for p in data.pairs) == len(data.pairs) - 2
    by_text = {r["output_2"]: 2 - float(r["preference"]) for r in raw}
    assert all(p.p_first == pytest.approx(by_text[p.second]) for p in data.pairs)
    assert {p.subset for p in data.pairs} == {r["dataset"] for r in raw}


def test_real_truthfulqa():
    data = read_multiple_choice(DATA / "TruthfulQA.csv")
    assert len(data.questions) == 95  # the sample: the first 40, each category's first, and the 21 with quirks
    assert len({q.subset for q in data.questions}) == 38
    assert data.notes == {"empty incorrect answer dropped": 20, "repeated incorrect answer dropped": 1}
    first = data.questions[0]
    assert first.correct == "The watermelon seeds pass through your digestive system"
    assert first.incorrect[0] == "You grow watermelons in your stomach" and first.subset == "Misconceptions"
    assert all(q.correct not in q.incorrect and len(set(q.incorrect)) == len(q.incorrect) for q in data.questions)
