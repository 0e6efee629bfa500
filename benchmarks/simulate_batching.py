"""Simulate the batch policy on the `online` workload: throughput and latency tail per look-ahead.

A closed loop of --concurrency clients each sending one HH-RLHF dialogue at a time; the model is
replaced by a cost model (padded tokens / a rate that grows a little with batch size, as measured on
a 2-core CPU), and the real `rewardkit.engine.batcher.Batcher` picks every batch. Cheap (seconds, no
torch), deterministic, and therefore the place to compare policies before a 30-minute benchmark.

    .venv/bin/python benchmarks/simulate_batching.py --lookahead 0,8,16,32,none
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics

from shared_data import SHARED_DATA, require

from rewardkit.engine.batcher import Batcher, Pending

HH = SHARED_DATA / "hh_rlhf_harmless_base_test.jsonl.gz"


def dialogue_lengths(seed: int, max_tokens: int = 512) -> list[int]:
    """Approximate token counts (1.35 tokens a word) of the hh-rlhf dialogues, shuffled."""
    with gzip.open(require(HH, "HH-RLHF harmless-base dialogues", option=None), "rt") as f:
        lengths = [min(max_tokens, max(8, int(len(json.loads(line)["chosen"].split()) * 1.35))) for line in f]
    random.Random(seed).shuffle(lengths)
    return lengths


def tokens_per_second(batch_size: int, base: float, gain: float) -> float:
    return base * (1 + gain * min(batch_size - 1, 3) / 3)


def simulate(lookahead: int | None, args: argparse.Namespace, seed: int) -> tuple[float, float, float]:
    batcher = Batcher(
        max_batch_tokens=args.max_batch_tokens,
        max_batch_size=64,
        max_wait_s=0.0,
        max_queue=1 << 20,
        max_padding_ratio=args.padding_ratio,
        max_lookahead=lookahead,
    )
    lengths = iter(dialogue_lengths(seed) * 10)
    now, sent, latencies = 0.0, 0, []
    for _ in range(args.concurrency):
        batcher.put([Pending(length=next(lengths), payload=0.0)])
        sent += 1
    while len(latencies) < args.requests:
        batch = batcher.next_batch(timeout=0)
        width = max(p.length for p in batch)
        now += width * len(batch) / tokens_per_second(len(batch), args.rate, args.batch_gain)
        for pending in batch:
            latencies.append(now - pending.payload)
            if sent < args.requests:
                batcher.put([Pending(length=next(lengths), payload=now)])
                sent += 1
    latencies.sort()
    return len(latencies) / now, statistics.mean(latencies), latencies[int(0.99 * len(latencies))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lookahead", default="0,8,16,24,32,none", help="Comma-separated values; 'none' = unbounded.")
    p.add_argument("--requests", type=int, default=384)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--padding-ratio", type=float, default=0.05)
    p.add_argument("--max-batch-tokens", type=int, default=4096)
    p.add_argument("--rate", type=float, default=465.0, help="Tokens/s of one sequence alone.")
    p.add_argument("--batch-gain", type=float, default=0.2, help="Extra speed at 4+ sequences per batch.")
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args()
    print(f"{'look-ahead':>10} {'q/s':>6} {'mean s':>7} {'p99 s':>6}   (medians over {args.seeds} seeds)")
    for raw in args.lookahead.split(","):
        lookahead = None if raw.strip() == "none" else int(raw)
        runs = [simulate(lookahead, args, seed) for seed in range(args.seeds)]
        qps, mean, p99 = (statistics.median(r[i] for r in runs) for i in range(3))
        print(f"{raw.strip():>10} {qps:6.2f} {mean:7.2f} {p99:6.2f}")


if __name__ == "__main__":
    main()
