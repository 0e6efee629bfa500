"""How far bf16 scores stray from float32 arithmetic on the same weights: rewardkit (native attention
kernel, and the SDPA loop it replaces) and a plain transformers bf16 forward, each text scored alone.

The bench's own check compares the servers with a transformers bf16 forward, itself one bf16
rounding path among others; here the yardstick is the bf16 checkpoint run in float32.

    python benchmarks/bf16_accuracy.py --texts 40
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_model import load_scorer

HH = Path(__file__).resolve().parents[1] / "tests" / "data" / "hh_rlhf_harmless_base_test.jsonl.gz"


def texts(count: int, chars: int) -> list[str]:
    with gzip.open(HH, "rt", encoding="utf-8") as f:
        return [json.loads(line)["chosen"][:chars] for line, _ in zip(f, range(count))]


def rewardkit_scores(model_dir: Path, sample: list[str], native: str) -> list[float]:
    from rewardkit import RewardModel

    os.environ["REWARDKIT_NATIVE_ATTENTION"] = native
    model = RewardModel.load(model_dir, dtype="bfloat16", enable_prefix_caching=False)
    return [model.score([t])[0] for t in sample]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=Path.home() / ".cache/rewardkit/bench/smollm2-shape-bfloat16")
    parser.add_argument("--texts", type=int, default=40)
    parser.add_argument("--chars", type=int, default=1500, help="each HH-RLHF dialogue cut to this many characters")
    args = parser.parse_args()
    sample = texts(args.texts, args.chars)
    exact = [load_scorer(args.model_dir, "float32").score_texts([t])[0][0] for t in sample]
    contenders = {
        "transformers bf16": [load_scorer(args.model_dir, "bfloat16").score_texts([t])[0][0] for t in sample],
        "rewardkit bf16, native attention": rewardkit_scores(args.model_dir, sample, "1"),
        "rewardkit bf16, SDPA per segment": rewardkit_scores(args.model_dir, sample, "0"),
    }
    print(f"{len(sample)} texts, |score - float32 arithmetic on the same weights|:")
    for name, scores in contenders.items():
        errors = [abs(a - b) for a, b in zip(scores, exact)]
        print(f"  {name:34s} max {max(errors):.4f}  mean {sum(errors) / len(errors):.4f}")


if __name__ == "__main__":
    main()
