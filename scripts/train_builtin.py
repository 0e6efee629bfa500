"""Retrain the built-in model's reward head and write it into the package (src/rewardkit/models/builtin_head.json).

    .venv/bin/python scripts/train_builtin.py [--work-dir /tmp/rewardkit-builtin-train]

The recipe is `rewardkit.training.builtin_recipe`: HH-RLHF harmless-base pairs, soft-labelled,
length-controlled pairs of AlpacaEval answers, and TruthfulQA's correct-vs-incorrect answers, with
20% of the HH pairs, 15% of the AlpacaEval instructions and half of the TruthfulQA questions held
out, and LLMBar Natural for evaluation only. One feature pass over
the frozen SmolLM2-135M backbone (about 90 minutes on 2 CPU cores; cached in WORK per chunk, so a
stopped run resumes and a rerun takes a minute), then the head (seconds; the way AlpacaEval's length
bias is controlled is chosen on a validation split of the training data), then every figure for the
new head, the shipped one it replaces and the length baseline, side by side. The figures go into
the head's `evaluation` (what `/info` reports) and, in full, into --report.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rewardkit.config import ModelConfig
from rewardkit.models.base_model import base_identity
from rewardkit.models.builtin import HEAD_FILE, gguf_path, write_head
from rewardkit.scoring.core import ModelCore
from rewardkit.training.builtin_recipe import (
    SETTINGS,
    choose_length_control,
    compare_length_controls,
    evaluate_heads,
    feature_sets,
    read_recipe_data,
    train_recipe_head,
)
from rewardkit.training.features import FeatureBank
from rewardkit.training.head import HeadTraining
from rewardkit.training.trainer import load_decoder

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
"""The full data files, beside the clone (the repository holds only the tests' small samples)."""
RECIPE_FILES = ("hh_rlhf_harmless_base_test.jsonl.gz", "alpaca_eval", "llmbar/Natural.json", "TruthfulQA.csv")
NEW, PREVIOUS = "builtin", "previous builtin"


def table(figures: dict[str, Any]) -> str:
    """The side-by-side markdown table of the closing figures."""
    names = [NEW, PREVIOUS, "length"]
    rows = [
        "| held-out set | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    for key, label in [
        ("hh_rlhf_harmless_held_out", "HH-RLHF harmless-base pairs"),
        ("alpaca_eval_held_out_pairs", "AlpacaEval pairs (soft labels)"),
        ("llmbar_natural", "LLMBar Natural pairs"),
    ]:
        found = figures[key]
        rows.append(f"| {label} (n={found[NEW]['n']}) | " + " | ".join(pct(found[n]["accuracy"]) for n in names) + " |")
        rows.append(
            "| ... where the preferred one is shorter | "
            + " | ".join(pct(found[n].get("preferred shorter")) for n in names)
            + " |"
        )
    mc = figures["truthfulqa_mc"]
    rows.append(
        f"| TruthfulQA MC top-1, held-out questions (n={mc[NEW]['n']}) | "
        + " | ".join(pct(mc[n]["top1"]) for n in names)
        + " |"
    )
    bon = figures["alpaca_eval_held_out_best_of_n"]
    for i, point in enumerate(bon["curves"][NEW]):
        rows.append(
            f"| Best-of-{point['n']} gold, {bon['instructions']} AlpacaEval instructions | "
            + " | ".join(f"{bon['curves'][n][i]['gold_score']:.3f}" for n in names)
            + " |"
        )
    return "\n".join(rows)


def plot_best_of_n(bon: dict[str, Any], path: Path) -> None:
    """Gold score of each scorer's pick against n on the held-out instructions, with the oracle."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, points in bon["curves"].items():
        ax.plot([p["n"] for p in points], [p["gold_score"] for p in points], marker="o", label=name)
    ax.axhline(bon["oracle_gold"], color="grey", linestyle=":", label="oracle (best gold)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("n (answers drawn per instruction)")
    ax.set_ylabel("gold score of the pick (P(beats GPT-4-turbo))")
    ax.set_title(f"Best-of-n on {bon['instructions']} held-out AlpacaEval instructions")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/rewardkit-builtin-train"))
    parser.add_argument("--data-dir", type=Path, default=DATA, help="the full data files (default ../shared/data)")
    parser.add_argument("--output", type=Path, default=HEAD_FILE, help="where the head JSON goes")
    parser.add_argument(
        "--previous",
        type=Path,
        default=HEAD_FILE,
        help="the head to measure side by side (default: the shipped one, read before it is replaced; "
        "after a first run that is the new head, so pass the old file to compare with it again)",
    )
    parser.add_argument(
        "--report", type=Path, default=ROOT / "benchmarks" / "results" / "builtin_head.json", help="every figure"
    )
    parser.add_argument(
        "--plot", type=Path, default=ROOT / "docs" / "img" / "builtin_bon_heldout.png", help="the Best-of-n plot"
    )
    parser.add_argument("--features-only", action="store_true", help="stop after the (cached) feature pass")
    args = parser.parse_args()

    missing = [name for name in RECIPE_FILES if not (args.data_dir / name).exists()]
    if missing:
        parser.exit(
            2,
            f"train_builtin.py: {', '.join(missing)} missing from {args.data_dir}: the recipe's full data "
            "files, kept beside the clone in ../shared/data (not in the repository); pass --data-dir\n",
        )
    data = read_recipe_data(args.data_dir.resolve())
    config = ModelConfig(dtype="float32")
    model = load_decoder(gguf_path(), args.work_dir, config, "--head-only")
    bank = FeatureBank(
        model,
        ModelCore(model, config).templater,
        cache_dir=args.work_dir / "cache",
        model_id=base_identity(gguf_path()),
    )
    for name, conversations in feature_sets(data):
        bank.add(conversations, desc=name)
    if args.features_only:
        return

    previous = json.loads(args.previous.read_text())
    comparison = compare_length_controls(bank, data)
    settings = {**SETTINGS, "alpaca_length_control": choose_length_control(comparison)}
    print(json.dumps({"length controls on the validation split": comparison}, indent=1))
    trained = train_recipe_head(bank, data, args.work_dir / "head_state.pt", settings)
    heads = {NEW: trained.weight, PREVIOUS: previous["score_weight"]}
    figures = evaluate_heads(bank, heads, NEW, data)
    hh = figures["hh_rlhf_harmless_held_out"]
    evaluation = {
        "held_out": hh[NEW],
        "length_baseline": hh["length"],
        "benchmarks": {
            key: (
                {
                    "instructions": value["instructions"],
                    "oracle_gold": value["oracle_gold"],
                    "curve": value["curves"][NEW],
                    "length_curve": value["curves"]["length"],
                }
                if key.endswith("best_of_n")
                else {NEW: value[NEW], "length": value["length"]}
            )
            for key, value in figures.items()
        },
        "seed": settings["seed"],
    }
    write_head(
        trained.weight.flatten().tolist(),
        trained.mean,
        trained.std,
        evaluation,
        args.output,
        training={
            "recipe": "rewardkit.training.builtin_recipe",
            "recipe_settings": settings,
            "length_controls_on_validation": comparison,
            "pairs": trained.pairs,
            "dropped": data.dropped,
            "settings": {k: v for k, v in asdict(HeadTraining()).items() if k != "seed"},
            "final_loss": trained.losses[-1],
            "command": "python scripts/train_builtin.py",
        },
    )
    args.report.parent.mkdir(parents=True, exist_ok=True)
    report = {"settings": settings, "length_controls_on_validation": comparison, "pairs": trained.pairs}
    args.report.write_text(json.dumps({**report, "losses": trained.losses, **figures}, indent=1) + "\n")
    plot_best_of_n(figures["alpaca_eval_held_out_best_of_n"], args.plot)
    print(table(figures))


if __name__ == "__main__":
    main()
