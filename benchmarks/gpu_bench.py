"""Forward-pass throughput on one GPU: transformers' padded forward vs rewardkit's packed rows vs packed
rows with shared prompts computed once, on a reward model of a real shape with random weights.

    python benchmarks/gpu_bench.py                      # 0.5B shape, bf16, about 2-3 minutes on an H100/H200
    python benchmarks/gpu_bench.py --shape 1.5b --dtype bfloat16
    python benchmarks/gpu_bench.py --shape tiny --device cpu --dtype float32   # a smoke run anywhere
    python benchmarks/gpu_bench.py --shape 135m --device cpu --dtype float32 --batch-tokens 4096 --compile

Workloads (token ids with HH-RLHF-like lengths, no tokenizer needed):
- online: distinct texts of 40-512 tokens;
- bon: groups of 8 answers (8-200 tokens) to one prompt (60-300 tokens), a group per batch;
- grpo: the same groups, but batches mix several groups as concurrent single requests do.

Each contender scores every sequence of a workload in batches of at most --batch-tokens real tokens
(padded: at most --batch-size rows, sorted by length so padding is small); reported are real
tokens/s, sequences/s, peak GPU memory, and the largest difference from the padded forward's scores.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

SHAPES: dict[str, dict[str, Any]] = {
    "tiny": dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2
    ),
    "135m": dict(
        hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3
    ),
    "0.5b": dict(
        hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2
    ),
    "1.5b": dict(
        hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2
    ),
    "7b": dict(
        hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4
    ),
}
VOCAB = 32000


def build_model(shape: str, dtype: Any, device: str) -> Any:
    import torch
    from transformers import Qwen2Config, Qwen2ForSequenceClassification

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=VOCAB, num_labels=1, pad_token_id=0, max_position_embeddings=4096, **SHAPES[shape])
    config._attn_implementation = "sdpa"
    return Qwen2ForSequenceClassification(config).to(device=device, dtype=dtype).eval()


def workloads(count: int, seed: int = 0) -> dict[str, list[list[list[int]]]]:
    """name -> batches of sequences (grpo and bon hold the same sequences, batched differently)."""
    rng = random.Random(seed)
    tokens = lambda n: [rng.randrange(1, VOCAB) for _ in range(n)]  # noqa: E731
    online = [tokens(rng.randint(40, 512)) for _ in range(count)]
    groups = []
    for _ in range(max(1, count // 8)):
        prompt = tokens(rng.randint(60, 300))
        groups.append([prompt + tokens(rng.randint(8, 200)) for _ in range(8)])
    grpo = [seq for group in groups for seq in group]
    rng.shuffle(grpo)  # concurrent single requests: a batch sees answers of several prompts, interleaved
    return {"online": [online], "bon": groups, "grpo": [grpo]}


def batches(sequences: list[list[int]], budget: int, rows: int, padded: bool) -> list[list[int]]:
    from rewardkit.engine.batcher import plan_batches

    return plan_batches([len(s) for s in sequences], budget, rows, packed=not padded)


def run_padded(model: Any, sequences: list[list[int]], budget: int, rows: int) -> list[float]:
    import torch

    scores = [0.0] * len(sequences)
    for batch in batches(sequences, budget, rows, padded=True):
        width = max(len(sequences[i]) for i in batch)
        ids = torch.zeros((len(batch), width), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, i in enumerate(batch):
            ids[r, : len(sequences[i])] = torch.tensor(sequences[i])
            mask[r, : len(sequences[i])] = 1
        device = model.device
        hidden = model.model(input_ids=ids.to(device), attention_mask=mask.to(device))[0]
        last = mask.sum(1).to(device) - 1
        out = model.score(hidden[torch.arange(len(batch), device=device), last]).float().flatten().tolist()
        for i, value in zip(batch, out):
            scores[i] = value
    return scores


def run_packed(model: Any, sequences: list[list[int]], budget: int, share: bool, bucket: Any = None) -> list[float]:
    from rewardkit.models.packing import packed_hidden
    from rewardkit.models.segment_attention import varlen_usable

    scores = [0.0] * len(sequences)
    varlen = varlen_usable(model.model)
    for batch in batches(sequences, budget, 10**9, padded=False):
        picked = [sequences[i] for i in batch]
        hidden = packed_hidden(model.model, picked, model.device, varlen=varlen, share=share, bucket=bucket)
        out = model.score(hidden).float().flatten().tolist()
        for i, value in zip(batch, out):
            scores[i] = value
    return scores


def measure(fn: Any, groups: list[list[list[int]]], device: str) -> tuple[float, float, float, list[float]]:
    import torch

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        fn(groups[0][:4])  # warm-up
        sync()
        started = time.perf_counter()
        scores = [s for group in groups for s in fn(group)]
        sync()
    seconds = time.perf_counter() - started
    tokens = sum(len(s) for group in groups for s in group)
    memory = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else float("nan")
    return tokens / seconds, sum(len(g) for g in groups) / seconds, memory, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="0.5b")
    parser.add_argument("--dtype", choices=["bfloat16", "float16", "float32"], default="bfloat16")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--sequences", type=int, default=512, help="Sequences per workload.")
    parser.add_argument("--batch-tokens", type=int, default=32768, help="Real tokens per packed row.")
    parser.add_argument("--batch-size", type=int, default=64, help="Rows per padded batch.")
    parser.add_argument("--compile", action="store_true", help="Add packed + shared prompt with compiled layers.")
    args = parser.parse_args()

    import torch

    from rewardkit.models.packing import enable_packing

    dtype = getattr(torch, args.dtype)
    model = build_model(args.shape, dtype, args.device)
    where = torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
    print(f"{args.shape} shape, {args.dtype} on {where}")
    header = ("workload", "contender", "tokens/s", "seq/s", "peak GiB", "max |diff|", "speed-up")
    print("{:8} {:22} {:>10} {:>8} {:>9} {:>11} {:>9}".format(*header))

    def padded(seqs: list[list[int]]) -> list[float]:
        return run_padded(model, seqs, args.batch_tokens, args.batch_size)

    def packed(share: bool, bucket: Any = None) -> Any:
        return lambda seqs: run_packed(model, seqs, args.batch_tokens, share, bucket)

    results: dict[str, list[tuple[str, Any]]] = {}
    for name, groups in workloads(args.sequences).items():
        model.model.set_attn_implementation("sdpa")
        results[name] = [("transformers padded", measure(padded, groups, args.device))]
        enable_packing(model.model, 4096)
        for label, share in (("rewardkit packed", False), ("packed + shared prompt", True)):
            results[name].append((label, measure(packed(share), groups, args.device)))
    if args.compile:  # after every eager contender: compiled layers stay compiled
        from rewardkit.models.compiling import bucket_length

        started = time.perf_counter()
        for layer in model.model.layers:
            layer.compile(dynamic=True)
        with torch.inference_mode():
            for count, length in ((3, 40), (7, 90)):
                run_packed(
                    model, [[5 + i] * (length + i) for i in range(count)], args.batch_tokens, True, bucket_length
                )
        print(f"compiling and warming up took {time.perf_counter() - started:.0f} s")
        for name, groups in workloads(args.sequences).items():
            results[name].append(("shared + compiled", measure(packed(True, bucket_length), groups, args.device)))
    for name, rows in results.items():
        base = rows[0][1]
        for label, (tok_s, seq_s, mem, scores) in rows:
            diff = max(abs(a - b) for a, b in zip(scores, base[3]))
            print(f"{name:8} {label:22} {tok_s:10.0f} {seq_s:8.1f} {mem:9.2f} {diff:11.2e} {tok_s / base[0]:8.2f}x")


if __name__ == "__main__":
    main()
