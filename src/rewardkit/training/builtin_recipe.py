"""The built-in model's recipe: which data, which split, which features, in which order.

`scripts/train_builtin.py` runs it. Held out, never trained on: 20% of HH-RLHF harmless-base pairs
(by content hash, the split `rewardkit train --test-fraction 0.2` makes), 15% of the AlpacaEval
instructions (by instruction hash, with every answer to them) and half of the TruthfulQA questions
(by question hash); LLMBar Natural is evaluation only. Trained on: the other HH-RLHF pairs (harmless
answers), pairs of judged AlpacaEval answers to a capped number of the other instructions,
soft-labelled and with length controlled (helpful answers; training/mixture.py), and the other
TruthfulQA questions' correct answer against each incorrect one (true answers).

The feature pass (one frozen-backbone forward per distinct text) is the cost: the evaluation sets
go first, then the training sets, each through the chunk cache, so a stopped run resumes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rewardkit.data.records import MultipleChoice, PreferencePair
from rewardkit.training.mixture import Instruction, instruction_context, instructions_from_pool, split_instructions
from rewardkit.training.pairs import TrainingPair, oriented, split_pairs
from rewardkit.types import Conversation, with_answer

__all__ = [
    "CONTROLLED",
    "LENGTH_CONTROLS",
    "SETTINGS",
    "RecipeData",
    "TrainedHead",
    "alpaca_reference_pairs",
    "alpaca_training_pairs",
    "choose_length_control",
    "compare_length_controls",
    "evaluate_heads",
    "feature_sets",
    "hh_pairs",
    "length_subsets",
    "read_recipe_data",
    "train_recipe_head",
    "validation_split",
]

SETTINGS = {
    "hh_test_fraction": 0.2,
    "alpaca_test_fraction": 0.15,
    "alpaca_train_instructions": 360,
    "alpaca_picks": 4,
    "alpaca_min_confidence": 0.05,
    "alpaca_length_control": "adjust",
    "truthfulqa_test_fraction": 0.5,
    "seed": 0,
}
"""The recipe's fixed choices; the report records them. The AlpacaEval answers are long (about 290
tokens on average), so training uses a capped number of instructions and four answers of each.
``alpaca_length_control``: "adjust" (length's share taken out of every label), "balance" (as many
shorter- as longer-preferred pairs) or "none"; `scripts/train_builtin.py` compares the three on a
validation split of the training data."""

LENGTH_CONTROLS = ("adjust", "balance", "none")
CONTROLLED = ("adjust", "balance")
"""The choices the recipe may ship: a head trained on the judge's labels as they are ("none") is
measured next to them, as the reference for how much length control costs, never chosen."""


@dataclass
class RecipeData:
    hh_train: list[TrainingPair]
    hh_test: list[TrainingPair]
    alpaca_train: list[Instruction]
    alpaca_test_rows: list[dict]
    """Held-out instructions as `rewardkit bon pool` rows: every generator's answer, duplicates kept."""
    llmbar: list[PreferencePair]
    truthfulqa: list[MultipleChoice]
    """Every question, in file order; split by question into train and held-out halves below."""
    truthfulqa_test_fraction: float
    dropped: dict[str, int]

    def _truthfulqa(self, test: bool) -> list[MultipleChoice]:
        from rewardkit.training.mixture import held_out

        fraction = self.truthfulqa_test_fraction
        return [q for q in self.truthfulqa if held_out(q.context[-1]["content"], fraction) == test]

    @property
    def truthfulqa_train(self) -> list[MultipleChoice]:
        return self._truthfulqa(test=False)

    @property
    def truthfulqa_test(self) -> list[MultipleChoice]:
        return self._truthfulqa(test=True)

    @property
    def alpaca_test(self) -> list[Instruction]:
        return instructions_from_pool(self.alpaca_test_rows)


def read_recipe_data(data_dir: Path, settings: dict = SETTINGS) -> RecipeData:
    """Every dataset of the recipe, split; ``data_dir`` is the shared data folder."""
    from rewardkit.data.readers import read_multiple_choice, read_pairs
    from rewardkit.evaluation.bon import alpaca_eval_pool
    from rewardkit.training.mixture import hash_unit

    hh = read_pairs(data_dir / "hh_rlhf_harmless_base_test.jsonl.gz")
    hh_oriented, _ = oriented(hh.pairs)
    hh_train, hh_test = split_pairs(hh_oriented, settings["hh_test_fraction"])
    rows = alpaca_eval_pool([data_dir / "alpaca_eval"])
    alpaca_train, alpaca_test = split_instructions(instructions_from_pool(rows), settings["alpaca_test_fraction"])
    held = {i.instruction for i in alpaca_test}
    # a capped, hash-ordered share of the training instructions (the feature pass is the cost)
    alpaca_train = sorted(alpaca_train, key=lambda i: hash_unit(i.instruction, "train"))
    alpaca_train = alpaca_train[: settings["alpaca_train_instructions"]]
    llmbar = read_pairs(data_dir / "llmbar" / "Natural.json")
    truthfulqa = read_multiple_choice(data_dir / "TruthfulQA.csv")
    return RecipeData(
        hh_train=hh_train,
        hh_test=hh_test,
        alpaca_train=alpaca_train,
        alpaca_test_rows=[row for row in rows if row["instruction"] in held],
        llmbar=llmbar.pairs,
        truthfulqa=truthfulqa.questions,
        truthfulqa_test_fraction=settings["truthfulqa_test_fraction"],
        dropped=dict(Counter(hh.skipped) + Counter(llmbar.skipped) + Counter(truthfulqa.skipped)),
    )


def alpaca_training_pairs(data: RecipeData, settings: dict = SETTINGS) -> list[TrainingPair]:
    """Judged pairs of the training instructions' drawn answers, with length controlled as
    ``settings["alpaca_length_control"]`` says."""
    from rewardkit.training.mixture import judged_pairs, length_adjusted, length_balanced

    control, floor = settings["alpaca_length_control"], settings["alpaca_min_confidence"]
    if control not in LENGTH_CONTROLS:
        raise ValueError(f"alpaca_length_control must be one of {LENGTH_CONTROLS}, got {control!r}")
    pick, seed = settings["alpaca_picks"], settings["seed"]
    if control == "adjust":
        pairs = [p for item in data.alpaca_train for p in judged_pairs(item, pick, 0.0, seed)]
        return length_adjusted(pairs, floor)[0]
    pairs = [p for item in data.alpaca_train for p in judged_pairs(item, pick, floor, seed)]
    return length_balanced(pairs, seed) if control == "balance" else pairs


def feature_sets(data: RecipeData, settings: dict = SETTINGS) -> list[tuple[str, list[Conversation]]]:
    """(name, conversations) in the order the feature pass runs them: the evaluation-only sets first,
    then the training sets; TruthfulQA (half of it held out) last, as it is the cheapest."""
    from rewardkit.training.mixture import judged_pairs

    def pair_texts(pairs: list[TrainingPair] | list[PreferencePair]) -> list[Conversation]:
        out = []
        for p in pairs:
            first, second = (p.chosen, p.rejected) if isinstance(p, TrainingPair) else (p.first, p.second)
            out += [with_answer(p.context, first), with_answer(p.context, second)]
        return out

    def answers(items: list[Instruction]) -> list[Conversation]:
        return [with_answer(i.context, c.text) for i in items for c in i.candidates]

    drawn = [
        with_answer(i.context, text)
        for i in data.alpaca_train
        for p in judged_pairs(i, settings["alpaca_picks"], 0.0, settings["seed"], drop_unlabeled=False)
        for text in (p.chosen, p.rejected)
    ]
    return [
        ("hh held-out", pair_texts(data.hh_test)),
        ("llmbar natural", pair_texts(data.llmbar)),
        ("alpaca held-out", answers(data.alpaca_test)),
        ("hh train", pair_texts(data.hh_train)),
        ("alpaca train", drawn),
        ("truthfulqa", [with_answer(q.context, c) for q in data.truthfulqa for c in q.choices]),
    ]


# ------------------------------------------------------------------------------------------ training


@dataclass
class TrainedHead:
    weight: object  # torch [1, hidden]
    losses: list[float]
    mean: float
    std: float
    pairs: dict[str, int]
    """Training pairs by source, and how many AlpacaEval pairs prefer the shorter answer."""


def truthfulqa_pairs(questions: list[MultipleChoice]) -> list[TrainingPair]:
    """The correct answer of each training question against each of its incorrect ones (hard labels)."""
    return [TrainingPair(q.context, q.correct, bad, source=q.source) for q in questions for bad in q.incorrect]


def train_recipe_head(
    bank: object, data: RecipeData, state_path: Path | None, settings: dict = SETTINGS
) -> TrainedHead:
    """The head on HH-RLHF's training pairs, the length-controlled AlpacaEval pairs (soft labels) and
    the training half of TruthfulQA's correct-vs-incorrect pairs."""
    import torch

    from rewardkit.training.head import HeadTraining, train_head

    alpaca = alpaca_training_pairs(data, settings)
    truthful = truthfulqa_pairs(data.truthfulqa_train)
    pairs = [*data.hh_train, *alpaca, *truthful]
    chosen = bank.features([with_answer(p.context, p.chosen) for p in pairs])  # type: ignore[attr-defined]
    rejected = bank.features([with_answer(p.context, p.rejected) for p in pairs])  # type: ignore[attr-defined]
    target = torch.tensor([p.p for p in pairs], dtype=torch.float32)
    margin = torch.zeros(len(pairs))
    weight, losses = train_head(
        chosen, rejected, margin, HeadTraining(seed=settings["seed"]), state_path=state_path, target=target
    )
    rewards = torch.cat([chosen @ weight.T, rejected @ weight.T]).flatten()
    counts = {
        "hh_rlhf": len(data.hh_train),
        "alpaca_eval": len(alpaca),
        "alpaca_eval_preferred_shorter": sum(len(p.chosen) < len(p.rejected) for p in alpaca),
        "alpaca_eval_instructions": len(data.alpaca_train),
        "truthfulqa": len(truthful),
        "truthfulqa_questions": len(data.truthfulqa_train),
    }
    return TrainedHead(weight, losses, float(rewards.mean()), float(rewards.std()), counts)


VALIDATION_FRACTION = 0.2


def validation_split(data: RecipeData, fraction: float = VALIDATION_FRACTION) -> tuple[RecipeData, RecipeData]:
    """(fit, validation): the training data split again by hash (a different salt from the held-out
    split), so a choice of recipe is made without looking at any held-out figure."""
    from dataclasses import replace

    from rewardkit.training.mixture import hash_unit

    def validating(key: str) -> bool:
        return hash_unit(key, "validation") < fraction

    hh_val = [p for p in data.hh_train if validating(p.key())]
    hh_fit = [p for p in data.hh_train if not validating(p.key())]
    alpaca_val = [i for i in data.alpaca_train if validating(i.instruction)]
    alpaca_fit = [i for i in data.alpaca_train if not validating(i.instruction)]
    return replace(data, hh_train=hh_fit, alpaca_train=alpaca_fit), replace(
        data, hh_train=hh_val, alpaca_train=alpaca_val
    )


def compare_length_controls(bank: object, data: RecipeData, settings: dict = SETTINGS) -> dict[str, dict]:
    """Each length control trained on the fit part of the training data and measured on the validation
    part: HH-RLHF pairs, and the judged pairs among the validation instructions' drawn answers (raw
    judge labels), overall and where the preferred answer is the shorter one."""
    from rewardkit.evaluation.pairs import evaluate_pairs
    from rewardkit.training.feature_scorers import HeadScorer
    from rewardkit.training.mixture import judged_pairs

    fit, validation = validation_split(data)
    alpaca_val = [
        PreferencePair(p.context, p.chosen, p.rejected, p.p, "alpaca_eval")
        for item in validation.alpaca_train
        for p in judged_pairs(item, settings["alpaca_picks"], 0.0, settings["seed"])
    ]
    heads = {
        control: train_recipe_head(bank, fit, None, {**settings, "alpaca_length_control": control}).weight
        for control in LENGTH_CONTROLS
    }
    scorer = HeadScorer(bank, heads, LENGTH_CONTROLS[0])  # type: ignore[arg-type]
    hh = evaluate_pairs(scorer, hh_pairs(validation.hh_train), progress=False).members
    alpaca = evaluate_pairs(scorer, length_subsets(alpaca_val), progress=False).members
    if "preferred shorter" not in alpaca[LENGTH_CONTROLS[0]].subsets:
        raise ValueError("the validation instructions have no pair whose preferred answer is the shorter; use more")
    return {
        control: {
            "hh_rlhf": hh[control].overall.accuracy,
            "alpaca_eval": alpaca[control].overall.accuracy,
            "alpaca_eval_preferred_shorter": alpaca[control].subsets["preferred shorter"].accuracy,
            "pairs": {"hh_rlhf": len(validation.hh_train), "alpaca_eval": len(alpaca_val)},
        }
        for control in LENGTH_CONTROLS
    }


def choose_length_control(comparison: dict[str, dict]) -> str:
    """Of the length controls (CONTROLLED), the one with the best mean of the three validation
    accuracies (ties: the earlier one)."""

    def mean(figures: dict) -> float:
        return (figures["hh_rlhf"] + figures["alpaca_eval"] + figures["alpaca_eval_preferred_shorter"]) / 3

    return max(CONTROLLED, key=lambda control: (mean(comparison[control]), -CONTROLLED.index(control)))


# ---------------------------------------------------------------------------------------- evaluation


def length_subsets(pairs: list[PreferencePair]) -> list[PreferencePair]:
    """The pairs with their subset set to whether the preferred response is the shorter or the longer
    one, so every report also says how a scorer does when length points the wrong way."""
    from dataclasses import replace

    def side(p: PreferencePair) -> str:
        if p.p_first == 0.5 or len(p.first) == len(p.second):
            return "no length signal"
        preferred, other = (p.first, p.second) if p.p_first > 0.5 else (p.second, p.first)
        return "preferred shorter" if len(preferred) < len(other) else "preferred longer"

    return [replace(p, subset=side(p)) for p in pairs]


def alpaca_reference_pairs(rows: list[dict]) -> list[PreferencePair]:
    """AlpacaEval's own pairs for these pool rows: the reference first, each generator's answer second,
    P(reference better) = 1 - gold; an answer identical to the reference is skipped, as `rewardkit
    eval pairs` skips it in the annotation files."""
    out = []
    for row in rows:
        context = instruction_context(row["instruction"])
        reference = next(c for c in row["candidates"] if c["generator"].endswith("(reference)"))
        for c in row["candidates"]:
            if c["text"] != reference["text"]:
                first, second = reference["text"], c["text"]
                out.append(PreferencePair(context, first, second, 1.0 - c["gold"], "alpaca_eval", c["generator"]))
    return out


def hh_pairs(pairs: list[TrainingPair]) -> list[PreferencePair]:
    return [
        PreferencePair(p.context, p.chosen, p.rejected, 1.0, "hh-rlhf harmless-base", source=p.source) for p in pairs
    ]


def _pair_figures(report: object) -> dict[str, dict]:
    """Per scorer: overall accuracy (with its interval) and the accuracy by length side."""
    results = {"combined": report.combined, **report.members}  # type: ignore[attr-defined]
    out = {}
    for name, result in results.items():
        overall = result.overall.as_dict()
        out[name] = {
            "n": overall["n"],
            "accuracy": overall["accuracy"],
            "ci_low": overall["ci_low"],
            "ci_high": overall["ci_high"],
            "hard_accuracy": overall["hard_accuracy"],
            **{side: m.as_dict()["accuracy"] for side, m in result.subsets.items()},
            **{f"{side} n": m.n for side, m in result.subsets.items()},
        }
    return out


def evaluate_heads(bank: object, heads: dict[str, object], primary: str, data: RecipeData) -> dict[str, object]:
    """Every held-out figure of the recipe for each head and the length baseline, from `rewardkit
    eval`'s own runners: pair accuracy (overall and by length side), TruthfulQA top-1, and the
    Best-of-N gold curve on the held-out AlpacaEval instructions."""
    from rewardkit.evaluation.bon import evaluate_pool, pool_prompts, score_pool
    from rewardkit.evaluation.mc import evaluate_mc
    from rewardkit.evaluation.pairs import evaluate_pairs
    from rewardkit.selection.best_of_n import default_ns
    from rewardkit.training.feature_scorers import HeadScorer, LengthScorer

    scorers = [HeadScorer(bank, heads, primary), LengthScorer()]  # type: ignore[arg-type]

    def pairs(items: list[PreferencePair]) -> dict[str, dict]:
        figures: dict[str, dict] = {}
        for scorer in scorers:
            found = _pair_figures(evaluate_pairs(scorer, length_subsets(items), progress=False))
            figures.update(found if scorer.name == primary else {scorer.name: found["combined"]})
        figures.pop("combined", None)
        return figures

    def mc() -> dict[str, dict]:
        figures = {}
        for scorer in scorers:
            report = evaluate_mc(scorer, data.truthfulqa_test, progress=False)
            series = report.members or {scorer.name: report.combined}
            figures.update({name: r.overall.as_dict() for name, r in series.items()})
        return figures

    pool = pool_prompts(data.alpaca_test_rows, "held-out AlpacaEval instructions")
    ns = default_ns(min(len(p.candidates) for p in pool))
    curves: dict[str, list[dict]] = {}
    for scorer in scorers:
        found = evaluate_pool(pool, score_pool(scorer, pool, progress=False), ns)
        series = {k: v for k, v in found.curves.items() if k != "proxy"} or {scorer.name: found.curves["proxy"]}
        curves.update({name: [point.as_dict() for point in points] for name, points in series.items()})
        oracle = found.oracle_gold
    return {
        "hh_rlhf_harmless_held_out": pairs(hh_pairs(data.hh_test)),
        "alpaca_eval_held_out_pairs": pairs(alpaca_reference_pairs(data.alpaca_test_rows)),
        "alpaca_eval_held_out_best_of_n": {
            "instructions": len(pool),
            "oracle_gold": oracle,
            "curves": curves,
        },
        "llmbar_natural": pairs(data.llmbar),
        "truthfulqa_mc": mc(),
    }
