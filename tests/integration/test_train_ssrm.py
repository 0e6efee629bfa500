"""SSRM rounds on a tiny real model: a round keeps exactly the unlabeled pairs the previous round's
head is confident about, as judged here by scoring that head's served checkpoint, labels follow the
prediction, the thresholds' edges behave, held-out pairs never leak into training, and every round
is reported in the report and in the checkpoint's config."""

from __future__ import annotations

import json
import random
import shutil

import pytest

from rewardkit import RewardModel
from rewardkit.data.readers import read_pairs
from rewardkit.errors import InvalidInputError
from rewardkit.training.head import HeadTraining
from rewardkit.training.pairs import oriented, split_pairs
from rewardkit.training.trainer import SSRMSettings, train_head_only

GOOD = ("helpful", "correct", "thanks", "great")
BAD = ("wrong", "rude", "useless", "awful")
FAST = HeadTraining(num_train_epochs=12, learning_rate=0.05, per_device_train_batch_size=32)
SEEDS = [1, 2]
TEST_FRACTION = 0.25


def user(text):
    return [{"role": "user", "content": text}]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def goodness(text):
    return sum(word in GOOD for word in text.split())


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Labeled pairs; unlabeled pairs of mixed quality in LLMBar layout (with labels, for the agreement
    figure) and in the plain response_a/response_b layout, where held-out and training pairs hide."""
    rng = random.Random(0)
    root = tmp_path_factory.mktemp("ssrm-data")
    labeled = []
    for i in range(40):
        good = " ".join(rng.choice(GOOD) for _ in range(3))
        bad = " ".join(rng.choice(BAD) for _ in range(rng.randint(1, 5)))
        labeled.append({"prompt": f"question {i}?", "chosen": good, "rejected": bad, "margin": 0.1 * (i % 3)})
    labeled_path = write_jsonl(root / "labeled.jsonl", labeled)
    llmbar = []
    for i in range(36):
        a, b = (" ".join(rng.choice(GOOD + BAD) for _ in range(rng.randint(2, 4))) for _ in range(2))
        if a != b:
            llmbar.append(
                {"input": f"task {i}", "output_1": a, "output_2": b, "label": 1 if goodness(a) > goodness(b) else 2}
            )
    train, test = split_pairs(oriented(read_pairs(labeled_path).pairs)[0], TEST_FRACTION)
    plain = [
        {"prompt": f"chat {i}", "response_a": " ".join(rng.choice(GOOD + BAD) for _ in range(3)), "response_b": "ok"}
        for i in range(8)
    ]
    leaks = [{"messages": p.context, "response_a": p.rejected, "response_b": p.chosen} for p in test[:3]]
    known = [{"prompt": p.context[0]["content"], "response_a": p.chosen, "response_b": p.rejected} for p in train[:2]]
    return {
        "labeled": labeled_path,
        "llmbar": write_jsonl(root / "llmbar.jsonl", llmbar),
        "plain": write_jsonl(root / "plain.jsonl", [*plain[:4], *leaks, *known, *plain[4:]]),
        "leaked_lines": {5, 6, 7},
        "known_lines": {8, 9},
    }


def unlabeled_pairs(files):
    """(source, context, first, second, label) of every unlabeled row the run may use, read here."""
    out = []
    for line, row in enumerate(map(json.loads, files["llmbar"].read_text().splitlines()), start=1):
        out.append((f"{files['llmbar']}:{line}", user(row["input"]), row["output_1"], row["output_2"], row["label"]))
    for line, row in enumerate(map(json.loads, files["plain"].read_text().splitlines()), start=1):
        if line not in files["leaked_lines"] | files["known_lines"]:
            out.append((f"{files['plain']}:{line}", user(row["prompt"]), row["response_a"], row["response_b"], None))
    return out


def served_p_first(checkpoint, pairs):
    """p(first is better) from the served checkpoint's own scores, both orders averaged."""
    import math

    convs = [[*ctx, {"role": "assistant", "content": text}] for _, ctx, a, b, _ in pairs for text in (a, b)]
    scores = RewardModel.load(checkpoint).score(convs)
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    return [(sig(a - b) + 1 - sig(b - a)) / 2 for a, b in zip(scores[0::2], scores[1::2])]


def threshold_between(confidences):
    """A threshold in the widest gap of the middle half of the confidences, far from every one of
    them, so that some pairs are kept and some are not."""
    values = sorted(confidences)
    low, high = len(values) // 4, 3 * len(values) // 4
    gap, i = max((values[i + 1] - values[i], i) for i in range(low, high))
    assert gap > 1e-3
    return (values[i] + values[i + 1]) / 2


def reusing_features(source, target):
    """``target`` starting with the features ``source`` cached (as a resumed run does), so that a
    test pays for the backbone only once; the features depend only on the texts and the base."""
    shutil.copytree(source / "cache", target / "cache")
    return target


def verdicts(seed_dir, k):
    lines = (seed_dir / "ssrm" / f"round-{k}.pseudo-labels.jsonl").read_text().splitlines()
    return {row["source"]: row for row in map(json.loads, lines)}


@pytest.fixture(scope="module")
def runs(llama_dir, files, tmp_path_factory):
    """Plain training (the round-0 heads) and SSRM at a threshold read off their served confidences."""
    root = tmp_path_factory.mktemp("ssrm-runs")
    common = dict(training=FAST, seeds=SEEDS, test_fraction=TEST_FRACTION, progress=False)
    plain = train_head_only(llama_dir, [files["labeled"]], root / "plain", **common)
    pairs = unlabeled_pairs(files)
    p_first = {seed: served_p_first(root / "plain" / f"seed-{seed}", pairs) for seed in SEEDS}
    threshold = threshold_between([max(p, 1 - p) for seed in SEEDS for p in p_first[seed]])
    settings = SSRMSettings(rounds=2, threshold=threshold)
    unlabeled = [files["llmbar"], files["plain"]]
    target = reusing_features(root / "plain", root / "ssrm")
    ssrm = train_head_only(llama_dir, [files["labeled"]], target, unlabeled=unlabeled, ssrm=settings, **common)
    return {"plain": plain, "ssrm": ssrm, "pairs": pairs, "p_first": p_first, "threshold": threshold, "root": root}


def test_a_round_keeps_exactly_the_pairs_the_previous_head_is_confident_about(runs):
    threshold = runs["threshold"]
    for seed in SEEDS:
        rows = verdicts(runs["root"] / "ssrm" / f"seed-{seed}", 1)
        assert set(rows) == {source for source, *_ in runs["pairs"]}
        expected = {s for (s, *_), p in zip(runs["pairs"], runs["p_first"][seed]) if max(p, 1 - p) >= threshold}
        assert {source for source, row in rows.items() if row["kept"]} == expected
        assert 0 < len(expected) < len(rows)
        for (source, *_), p in zip(runs["pairs"], runs["p_first"][seed]):
            assert rows[source]["p_first"] == pytest.approx(p, abs=1e-5)
            if abs(p - 0.5) > 1e-4:  # the label follows the prediction
                assert rows[source]["winner"] == ("first" if p > 0.5 else "second")
        figures = next(s.ssrm for s in runs["ssrm"].seeds if s.seed == seed)
        assert figures[1]["pseudo_labels"] == len(expected)
        round_two = verdicts(runs["root"] / "ssrm" / f"seed-{seed}", 2)
        assert figures[2]["pseudo_labels"] == sum(row["kept"] for row in round_two.values())


def test_agreement_with_the_files_labels_is_reported_where_there_are_labels(runs):
    for seed in SEEDS:
        matches = [
            (p > 0.5) == (label == 1)
            for (_, _, _, _, label), p in zip(runs["pairs"], runs["p_first"][seed])
            if label is not None and max(p, 1 - p) >= runs["threshold"]
        ]
        round_one = next(s.ssrm for s in runs["ssrm"].seeds if s.seed == seed)[1]
        assert round_one["pseudo_labels_with_a_label"] == len(matches)
        assert round_one["pseudo_label_agreement"] == pytest.approx(sum(matches) / len(matches))


def test_round_zero_is_plain_training_and_every_round_is_reported(runs, files):
    ssrm, plain = runs["ssrm"], runs["plain"]
    assert ssrm.ssrm["rounds"] == 2 and ssrm.ssrm["threshold"] == runs["threshold"]
    assert ssrm.ssrm["pairs"] == len(runs["pairs"])
    report_file = json.loads((runs["root"] / "ssrm" / "train_report.json").read_text())
    for result, reference, saved in zip(ssrm.seeds, plain.seeds, report_file["seeds"]):
        rounds = result.ssrm
        assert [r["round"] for r in rounds] == [0, 1, 2]
        assert rounds[0]["losses"] == pytest.approx(reference.losses, abs=1e-6)
        assert rounds[0]["held_out"] == pytest.approx(reference.test, abs=1e-6)
        assert rounds[0]["pseudo_labels"] == 0 and rounds[0]["pseudo_label_agreement"] is None
        for r in rounds:
            assert r["train_pairs"] == ssrm.train_pairs + r["pseudo_labels"]
            assert r["held_out"]["n"] == ssrm.test_pairs and len(r["losses"]) == FAST.num_train_epochs
        assert rounds[-1]["losses"] == result.losses and rounds[-1]["held_out"] == result.test
        assert saved["ssrm"] == rounds
        config = json.loads((runs["root"] / "ssrm" / f"seed-{result.seed}" / "config.json").read_text())
        assert config["rewardkit_evaluation"]["ssrm"] == rounds
        assert config["rewardkit_evaluation"]["held_out"] == result.test
    assert report_file["ssrm"] == ssrm.ssrm


def test_held_out_pairs_never_become_unlabeled_pairs(runs, files):
    dropped = runs["ssrm"].ssrm["dropped"]
    assert dropped["the same two responses as a held-out test pair"] == len(files["leaked_lines"])
    assert dropped["the same two responses as a labeled training pair"] == len(files["known_lines"])
    sources = set(verdicts(runs["root"] / "ssrm" / f"seed-{SEEDS[0]}", 1))
    for line in files["leaked_lines"] | files["known_lines"]:
        assert f"{files['plain']}:{line}" not in sources


def test_the_next_head_is_trained_on_the_pseudo_labels_as_kept(llama_dir, files, runs, tmp_path):
    """Round 1 equals plain training on the labeled training pairs plus the kept pairs written out as
    labeled ones, the winner the round-0 head predicts as 'chosen' (no split: all of them train)."""
    seed, threshold = SEEDS[0], runs["threshold"]
    unlabeled = [files["llmbar"], files["plain"]]
    common = dict(training=FAST, seeds=[seed], progress=False)
    target = reusing_features(runs["root"] / "ssrm", tmp_path / "ssrm")
    settings = SSRMSettings(rounds=1, threshold=threshold)
    train_head_only(
        llama_dir, [files["labeled"]], target, unlabeled=unlabeled, ssrm=settings, test_fraction=TEST_FRACTION, **common
    )
    train = split_pairs(oriented(read_pairs(files["labeled"]).pairs)[0], TEST_FRACTION)[0]
    rows = [{"prompt": p.context, "chosen": p.chosen, "rejected": p.rejected, "margin": p.margin} for p in train]
    for (_, ctx, a, b, _), p in zip(runs["pairs"], runs["p_first"][seed]):
        if max(p, 1 - p) >= threshold:
            rows.append({"prompt": ctx, "chosen": a if p > 0.5 else b, "rejected": b if p > 0.5 else a})
    both = write_jsonl(tmp_path / "both.jsonl", rows)
    train_head_only(llama_dir, [both], tmp_path / "by-hand", test_fraction=0.0, **common)
    probe = [[*ctx, {"role": "assistant", "content": t}] for _, ctx, a, b, _ in runs["pairs"][:12] for t in (a, b)]
    by_hand = RewardModel.load(tmp_path / "by-hand").score(probe)
    assert RewardModel.load(tmp_path / "ssrm").score(probe) == pytest.approx(by_hand, abs=1e-4)
    round_zero = RewardModel.load(runs["root"] / "plain" / f"seed-{seed}").score(probe)
    assert round_zero != pytest.approx(by_hand, abs=1e-3)


def test_threshold_one_half_keeps_every_pair_and_one_keeps_none(llama_dir, files, runs, tmp_path):
    common = dict(training=FAST, seeds=SEEDS[:1], test_fraction=TEST_FRACTION, progress=False)
    unlabeled = [files["llmbar"], files["plain"]]
    everything = train_head_only(
        llama_dir,
        [files["labeled"]],
        reusing_features(runs["root"] / "ssrm", tmp_path / "half"),
        unlabeled=unlabeled,
        ssrm=SSRMSettings(1, 0.5),
        **common,
    )
    assert everything.seeds[0].ssrm[1]["pseudo_labels"] == len(runs["pairs"])
    assert all(row["kept"] for row in verdicts(tmp_path / "half", 1).values())
    assert max(max(p, 1 - p) for p in runs["p_first"][SEEDS[0]]) < 1.0  # no confidence is exactly 1
    nothing = train_head_only(
        llama_dir,
        [files["labeled"]],
        reusing_features(runs["root"] / "ssrm", tmp_path / "one"),
        unlabeled=unlabeled,
        ssrm=SSRMSettings(2, 1.0),
        **common,
    )
    assert [r["pseudo_labels"] for r in nothing.seeds[0].ssrm] == [0, 0, 0]
    assert [r["pseudo_label_agreement"] for r in nothing.seeds[0].ssrm] == [None, None, None]  # unknown
    reference = runs["plain"].seeds[0]
    assert nothing.seeds[0].losses == pytest.approx(reference.losses, abs=1e-6)
    assert nothing.seeds[0].test == pytest.approx(reference.test, abs=1e-6)
    probe = [[*ctx, {"role": "assistant", "content": a}] for _, ctx, a, _, _ in runs["pairs"][:8]]
    plain_scores = RewardModel.load(runs["root"] / "plain" / f"seed-{SEEDS[0]}").score(probe)
    assert RewardModel.load(tmp_path / "one").score(probe) == pytest.approx(plain_scores, abs=1e-6)


def test_more_rounds_into_the_same_folder_continue_the_run(llama_dir, files, runs, tmp_path):
    """One round, then two into the same folder (its head states and features kept): the first rounds
    are the same, and the result is that of two rounds run straight."""
    common = dict(training=FAST, seeds=SEEDS[:1], test_fraction=TEST_FRACTION, progress=False)
    unlabeled = [files["llmbar"], files["plain"]]
    settings = SSRMSettings(rounds=2, threshold=runs["threshold"])
    short = SSRMSettings(rounds=1, threshold=runs["threshold"])
    target = reusing_features(runs["root"] / "ssrm", tmp_path / "rm")
    first = train_head_only(llama_dir, [files["labeled"]], target, unlabeled=unlabeled, ssrm=short, **common)
    resumed = train_head_only(
        llama_dir, [files["labeled"]], tmp_path / "rm", unlabeled=unlabeled, ssrm=settings, **common
    )
    straight = next(s.ssrm for s in runs["ssrm"].seeds if s.seed == SEEDS[0])
    assert resumed.seeds[0].ssrm[:2] == first.seeds[0].ssrm
    assert [r["pseudo_labels"] for r in resumed.seeds[0].ssrm] == [r["pseudo_labels"] for r in straight]
    assert resumed.seeds[0].losses == pytest.approx(straight[-1]["losses"], abs=1e-6)


def test_a_malformed_unlabeled_row_names_the_file_and_line(llama_dir, files, tmp_path):
    bad = write_jsonl(
        tmp_path / "unlabeled.jsonl",
        [{"prompt": "q", "response_a": "a", "response_b": "b"}, {"prompt": "q", "response_a": "a"}],
    )
    with pytest.raises(InvalidInputError, match=r"unlabeled\.jsonl:2: 'response_b'"):
        train_head_only(llama_dir, [files["labeled"]], tmp_path / "rm", unlabeled=[bad], progress=False)
    odd = write_jsonl(tmp_path / "odd.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(InvalidInputError, match=r"odd\.jsonl:1: cannot tell the format"):
        train_head_only(llama_dir, [files["labeled"]], tmp_path / "rm", unlabeled=[odd], progress=False)
    with pytest.raises(InvalidInputError, match="unlabeled"):
        train_head_only(llama_dir, [files["labeled"]], tmp_path / "rm", ssrm=SSRMSettings(), progress=False)
    with pytest.raises(InvalidInputError, match="threshold"):
        SSRMSettings(threshold=0.4)


def test_cli_runs_rounds_and_refuses_ssrm_flags_that_cannot_apply(llama_dir, files, runs, tmp_path):
    from typer.testing import CliRunner

    from rewardkit.cli import app

    out = tmp_path / "cli"
    reusing_features(runs["root"] / "ssrm", out)
    base = [str(llama_dir), str(files["labeled"]), "-o", str(out), "--test-fraction", str(TEST_FRACTION)]
    fast = ["--num-train-epochs", "12", "--learning-rate", "0.05", "--per-device-train-batch-size", "32"]
    unlabeled = ["--unlabeled", str(files["llmbar"]), "--unlabeled", str(files["plain"])]
    ssrm = [*unlabeled, "--ssrm-rounds", "1", "--seeds", "1", "--ssrm-threshold", str(runs["threshold"])]
    result = CliRunner().invoke(app, ["train", *base, *fast, *ssrm])
    assert result.exit_code == 0, result.output
    assert "SSRM round 0" in result.output and "SSRM round 1" in result.output
    assert "agree with the file's labels" in result.output  # round 1, from the LLMBar labels
    rounds = json.loads((out / "config.json").read_text())["rewardkit_evaluation"]["ssrm"]
    assert [r["round"] for r in rounds] == [0, 1]
    assert rounds == runs["ssrm"].seeds[0].ssrm[:2]  # the API run's seed 1 (SEEDS[0]): its first two rounds

    refusals = [
        (["--ssrm-rounds", "2"], "--ssrm-rounds and --ssrm-threshold need unlabeled pairs"),
        ([*unlabeled, "--use-peft"], "SSRM rounds (--unlabeled) run with --head-only training"),
        ([*unlabeled, "--ssrm-threshold", "0.3"], "Invalid value for '--ssrm-threshold'"),
    ]
    for extra, message in refusals:
        refused = CliRunner().invoke(app, ["train", *base, "-o", str(tmp_path / "refused"), *extra])
        text = " ".join(refused.output.replace("│", " ").split())  # the error panel's borders out
        assert refused.exit_code == 2 and message in text, refused.output
        assert not (tmp_path / "refused").exists()


def test_cli_help_gives_the_ssrm_defaults_of_the_settings():
    from typer.testing import CliRunner

    from rewardkit.cli import app

    output = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).output
    text = " ".join(output.replace("│", " ").split())  # the panel's borders out, wrapped lines joined
    defaults = SSRMSettings()
    assert (
        f"current head's P(a better than b), keeps the confident ones and retrains. Default: {defaults.rounds}." in text
    )
    assert f"the label follows the prediction. Default: {defaults.threshold}." in text
