"""What --batch-invariant costs: the same HH-RLHF texts scored by RewardModel with and without it.

    python benchmarks/bench_invariance.py [--texts 64] [--model-dir DIR]

Default model: the SmolLM2-135M-shaped classifier bench_serving.py builds (float32, CPU or GPU).
Prints texts/s for each mode (median of --repeats), their ratio, and the largest score difference.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_model import ensure_model
from workloads import Truncator, load_dialogues


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model-dir", default=None)
    args = parser.parse_args()

    from rewardkit import RewardModel

    path = ensure_model(args.model_dir, "float32")
    batched = RewardModel.load(path, dtype="float32")
    invariant = RewardModel.load(path, dtype="float32", batch_invariant=True)
    cut = Truncator(batched.model.tokenizer, 512)
    texts = [cut.cut(row["chosen"])[0] for row in load_dialogues()[: args.texts]]
    rates, scores = {}, {}
    for name, model in (("batched", batched), ("batch-invariant", invariant)):
        model.score(texts[:4])  # warm-up
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            scores[name] = model.score(texts)
            times.append(time.perf_counter() - started)
        rates[name] = len(texts) / statistics.median(times)
        print(f"{name:16} {rates[name]:7.2f} texts/s (median of {args.repeats})")
    diff = max(abs(a - b) for a, b in zip(scores["batched"], scores["batch-invariant"]))
    print(
        f"batch-invariant costs {1 - rates['batch-invariant'] / rates['batched']:.0%} of the throughput; "
        f"largest score difference {diff:.1e}"
    )


if __name__ == "__main__":
    main()
