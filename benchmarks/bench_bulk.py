"""Bulk scoring: `rewardkit score` (streamed in chunks, committed as it goes) vs the whole-file path it
replaced (read every row, encode every row, score, write at the end), on HH-RLHF dialogues repeated to
N rows, at two sizes, each run in its own process: wall time, rows/s, and peak memory (max RSS).

A small Llama-shaped classifier with the real SmolLM2 tokenizer keeps the model's share small, so the
figures show what the pipeline itself costs (reading, tokenizing, writing) and how memory grows:

    python benchmarks/bench_bulk.py --rows 5000 20000

Also prints the tokenizing rate of the scoring core alone (rows/s and tokens/s on one thread), the
figure docs/scale.md sizes CPU per GPU with. A command, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_model import build_checkpoint
from shared_data import require
from workloads import HH_PATH

SHAPE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)

WHOLE_FILE = """
import json, sys
from pathlib import Path
from rewardkit import RewardModel
from rewardkit.data.rows import row_input
from rewardkit.scoring.steps import ScoreConversations, ScoreTexts
model = RewardModel.load(sys.argv[1])
rows = [json.loads(line) for line in Path(sys.argv[2]).read_text().splitlines()]
items = []
for row in rows:
    value = row_input(row, "row")
    step = ScoreTexts([value]) if isinstance(value, str) else ScoreConversations([value])
    items += model.core.encode(step)
results = model.score_items(items)
with open(sys.argv[3], "w") as f:
    for row, result in zip(rows, results):
        f.write(json.dumps({**row, "score": result.score}) + "\\n")
"""

MEASURED = """
import resource, subprocess, sys, time
started = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def dialogues() -> list[str]:
    with gzip.open(require(HH_PATH, "HH-RLHF harmless-base dialogues", option=None), "rt") as f:
        return [json.loads(line)["chosen"] for line in f]


def measured(cmd: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of ``cmd`` run in a process of its own."""
    out = subprocess.run([sys.executable, "-c", MEASURED, *cmd], check=True, capture_output=True, text=True)
    seconds, kib = out.stdout.split()
    return float(seconds), int(kib) / 1024


def tokenizing_rate(model_dir: Path, texts: list[str]) -> tuple[float, float]:
    import torch

    from rewardkit import RewardModel
    from rewardkit.scoring.steps import ScoreTexts

    torch.set_num_threads(1)
    model = RewardModel.load(model_dir)
    started = time.perf_counter()
    tokens = sum(item.length for text in texts for item in model.core.encode(ScoreTexts([text])))
    seconds = time.perf_counter() - started
    return len(texts) / seconds, tokens / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--chunk-rows", type=int, default=2048)
    args = parser.parse_args()

    texts = dialogues()
    with tempfile.TemporaryDirectory(prefix="rewardkit-bulk-") as tmp:
        root = Path(tmp)
        model_dir = build_checkpoint(root / "model", dtype="float32", shape=SHAPE)
        rows_per_s, tokens_per_s = tokenizing_rate(model_dir, texts[:2000])
        print(f"tokenizing alone (scoring core, 1 thread): {rows_per_s:,.0f} rows/s, {tokens_per_s:,.0f} tokens/s")
        print(f"{'rows':>7} {'path':24} {'seconds':>8} {'rows/s':>8} {'peak MiB':>9}")
        for count in args.rows:
            source = root / f"in-{count}.jsonl"
            # a row number first: repeated dialogues never share a prompt (that would flatter whole-file sorting)
            lines = (json.dumps({"id": i, "text": f"Row {i}. {texts[i % len(texts)]}"}) + "\n" for i in range(count))
            source.write_text("".join(lines))
            runs = {
                "whole file (before)": [sys.executable, "-c", WHOLE_FILE, str(model_dir), str(source), str(root / "a")],
                "rewardkit score": [
                    *(sys.executable, "-m", "rewardkit.cli", "score", str(model_dir), str(source)),
                    *("-o", str(root / f"b-{count}.jsonl"), "--chunk-rows", str(args.chunk_rows), "--overwrite"),
                ],
            }
            for name, cmd in runs.items():
                seconds, peak = measured(cmd)
                print(f"{count:>7} {name:24} {seconds:8.1f} {count / seconds:8.0f} {peak:9.0f}", flush=True)


if __name__ == "__main__":
    main()
