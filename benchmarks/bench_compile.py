"""--compile by itself, alternated: two copies of a SmolLM2-135M-shaped backbone with the same weights,
one eager and one with compiled layers (as models/compiling.py does it), timed in turns on the same
packed batches of HH-like lengths, so machine noise hits both alike.

    python benchmarks/bench_compile.py --layers 30 --rounds 3     # one line per round

A command, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import gpu_bench


def timed(backbone: Any, batches: list[list[list[int]]], bucket: Any) -> float:
    import torch

    from rewardkit.models.packing import packed_hidden

    with torch.inference_mode():
        started = time.perf_counter()
        for batch in batches:
            packed_hidden(backbone, batch, "cpu", bucket=bucket)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import torch

    from rewardkit.models.compiling import bucket_length
    from rewardkit.models.packing import enable_packing

    gpu_bench.SHAPES["bench"] = dict(gpu_bench.SHAPES["135m"], num_hidden_layers=args.layers)
    eager = gpu_bench.build_model("bench", torch.float32, "cpu").model
    compiled = gpu_bench.build_model("bench", torch.float32, "cpu").model
    for backbone in (eager, compiled):
        enable_packing(backbone, 512)
    for layer in compiled.layers:
        layer.compile(dynamic=True)
    texts = gpu_bench.workloads(96)["online"][0]
    batches = [texts[i : i + 14] for i in range(0, 84, 14)]
    timed(compiled, batches[:1], bucket_length)  # compiles
    timed(eager, batches[:1], None)
    for round_ in range(args.rounds):
        e, c = timed(eager, batches, None), timed(compiled, batches, bucket_length)
        print(f"round {round_}: eager {e:.2f} s, compiled {c:.2f} s, {e / c:.2f}x", flush=True)


if __name__ == "__main__":
    main()
