"""Best-of-N selection: rewardkit's ``POST /best_of_n`` vs what users glue together, in one run.

Three ways to pick the best of N candidates for each of G prompts, on the same checkpoint, dtype and
inputs (DESIGN.md section 6):

- ``best_of_n``: ``rewardkit serve`` and an AsyncClient sending one ``/best_of_n`` call per group,
  ``--concurrency`` groups in flight;
- ``score+argmax``: the same server, one ``/score`` request per candidate (the N requests of a
  group sent together), argmax in the client: what a user with a per-sample reward endpoint writes;
- ``hf loop``: the loop many Best-of-N scripts run, ``AutoModelForSequenceClassification`` plus
  ``tokenizer.apply_chat_template``, one forward per candidate, no batching, argmax per group.

The model has SmolLM2-135M's shape with random weights (the picks are meaningless, the cost is real)
and SmolLM2's real tokenizer; prompts and candidates are AlpacaEval's (13 answers per instruction),
cut to ``--chars`` characters. Only groups whose every candidate fits in ``--max-length`` tokens are
used, so nothing is truncated anywhere. All three must pick the same candidates with the same scores.
``/best_of_n`` scores identical candidates of a group once (AlpacaEval's reference answer is also one
generator's, so every group has at least one duplicate); ``--unique`` drops duplicates from the groups
beforehand, which leaves only the batching and the HTTP calls to compare.

    python benchmarks/bench_best_of_n.py --groups 16 --chars 600 --repeats 1

A command, not a test: it reports medians over ``--repeats`` and asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bench_model import ensure_model, load_tokenizer
from noise import NoiseGuard
from servers import SERVERS, start_server
from shared_data import SHARED_DATA, require

DATA = SHARED_DATA / "alpaca_eval"
METHODS = ("best_of_n", "score+argmax", "hf loop")
_T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - _T0:7.1f}s] {message}", flush=True)


def build_groups(args: argparse.Namespace, tokenizer: Any) -> tuple[list[tuple[str, list[str]]], int]:
    """G (instruction, candidates) groups, in a seeded order, whose candidates all fit unchanged."""
    from rewardkit.evaluation.bon import alpaca_eval_pool

    pool = alpaca_eval_pool([require(args.data, "AlpacaEval annotation files")])
    random.Random(args.seed).shuffle(pool)
    groups, tokens = [], 0
    for row in pool:
        answers = [c["text"][: args.chars] for c in row["candidates"][: args.n]]
        if args.unique:
            answers = list(dict.fromkeys(answers))
        encoded = [tokenizer.apply_chat_template(conversation(row["instruction"], a)) for a in answers]
        lengths = [len(e["input_ids"]) for e in encoded]
        if max(lengths) <= args.max_length:
            groups.append((row["instruction"], answers))
            tokens += sum(lengths)
        if len(groups) == args.groups:
            return groups, tokens
    raise SystemExit(f"only {len(groups)} groups fit in {args.max_length} tokens; lower --groups or --chars")


def conversation(prompt: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def argmax(scores: list[float]) -> int:
    return max(range(len(scores)), key=lambda i: (scores[i], -i))  # an exact tie goes to the earlier one


async def _served(base_url: str, groups: list[tuple[str, list[str]]], concurrency: int, per_candidate: bool) -> Any:
    from rewardkit import AsyncClient

    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    gate = asyncio.Semaphore(concurrency)
    async with AsyncClient(base_url, transport=httpx.AsyncHTTPTransport(limits=limits), retries=0) as rk:

        async def one(prompt: str, answers: list[str]) -> tuple[list[float], int, float]:
            async with gate:
                t0 = time.perf_counter()
                if per_candidate:
                    replies = await asyncio.gather(*(rk.score([conversation(prompt, a)]) for a in answers))
                    scores = [r[0] for r in replies]
                    best = argmax(scores)
                else:
                    reply = await rk.best_of_n(answers, prompt=prompt)
                    scores, best = reply["scores"], reply["best"]
                return scores, best, time.perf_counter() - t0

        t0 = time.perf_counter()
        out = await asyncio.gather(*(one(p, a) for p, a in groups))
        return out, time.perf_counter() - t0


def hf_loop(model: Any, tokenizer: Any, groups: list[tuple[str, list[str]]]) -> Any:
    import torch

    out, t0 = [], time.perf_counter()
    for prompt, answers in groups:
        g0, scores = time.perf_counter(), []
        for answer in answers:
            enc = tokenizer.apply_chat_template(conversation(prompt, answer), return_tensors="pt", return_dict=True)
            with torch.no_grad():
                scores.append(model(**enc).logits[0, 0].item())
        out.append((scores, argmax(scores), time.perf_counter() - g0))
    return out, time.perf_counter() - t0


def model_counts(server: Any) -> dict[str, float]:
    """The server's totals: sequences and real tokens through the model, forward passes."""
    text = httpx.get(server.base_url + "/metrics", timeout=30.0).text
    found = re.search(r"^rewardkit_sequences_scored_total\s+(\S+)", text, re.MULTILINE)
    counters = server.counters()
    return {"sequences": float(found.group(1)), "tokens": counters["real_tokens"], "batches": counters["batches"]}


def record(out: list[tuple[list[float], int, float]], seconds: float, sequences: int, tokens: int) -> dict[str, Any]:
    return {
        "seconds": seconds,
        "groups_per_s": len(out) / seconds,
        "sequences_per_s": sequences / seconds,  # candidates of the groups, duplicates included
        "model_tokens": tokens,
        "model_tokens_per_s": tokens / seconds,  # what went through the model
        "p50_group_s": statistics.median(lat for _, _, lat in out),
        "scores": [s for s, _, _ in out],
        "best": [b for _, b, _ in out],
    }


def agreement(a: dict[str, Any], b: dict[str, Any], tie_tol: float) -> dict[str, Any]:
    """Same pick per group (a differing pick whose scores are within ``tie_tol`` counts as a tie)."""
    same = ties = 0
    for sa, ba, bb in zip(a["scores"], a["best"], b["best"]):
        same += ba == bb
        ties += ba != bb and abs(sa[ba] - sa[bb]) <= tie_tol
    diff = max(abs(x - y) for sa, sb in zip(a["scores"], b["scores"]) for x, y in zip(sa, sb))
    return {"same_best": same, "ties": ties, "groups": len(a["best"]), "max_abs_score_diff": diff}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--groups", type=int, default=16, help="prompts (groups of N candidates)")
    p.add_argument("--n", type=int, default=13, help="candidates per group (AlpacaEval has 13)")
    p.add_argument("--chars", type=int, default=600, help="candidates are cut to this many characters")
    p.add_argument("--unique", action="store_true", help="drop duplicate candidates from each group first")
    p.add_argument("--max-length", type=int, default=512, help="server --max-length; longer groups are skipped")
    p.add_argument("--concurrency", type=int, default=8, help="groups in flight against the server")
    p.add_argument("--repeats", type=int, default=1, help="measurements per method; medians reported")
    p.add_argument("--seed", type=int, default=0, help="order in which instructions are drawn")
    p.add_argument("--tie-tol", type=float, default=1e-4, help="score gap under which differing picks are ties")
    p.add_argument("--model-dir", default=None, help="checkpoint (default: the SmolLM2-shaped one, built once)")
    p.add_argument("--data", type=Path, default=DATA, help="folder of AlpacaEval annotation files")
    p.add_argument("--max-noise", type=float, default=0.05, help="others' CPU share above which a figure is retaken")
    p.add_argument("--json-out", type=Path, default=None)
    args = p.parse_args(argv)

    import torch
    from transformers import AutoModelForSequenceClassification

    model_dir = ensure_model(args.model_dir, "float32")
    tokenizer = load_tokenizer(model_dir)
    groups, tokens = build_groups(args, tokenizer)
    sequences = sum(len(a) for _, a in groups)
    unique = sum(len(set(a)) for _, a in groups)
    distinct_tokens = sum(
        len(tokenizer.apply_chat_template(conversation(prompt, a))["input_ids"]) for prompt, g in groups for a in set(g)
    )
    log(f"{len(groups)} groups, {sequences} candidates ({unique} distinct), {tokens} tokens (model {model_dir})")
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    server = start_server(
        SERVERS["rewardkit"],
        model_dir,
        "float32",
        Path(tempfile.mkdtemp(prefix="rewardkit-bon-bench-")),
        ["--device", "cpu", "--max-length", str(args.max_length), "--log-level", "warning"],
    )
    log(f"rewardkit serve on {server.base_url} (pid {server.process.pid}), {server.settings()}")
    guard = NoiseGuard(max_share=args.max_noise, retries=1, quiet_wait_s=60.0, log=log)
    pids = [os.getpid(), server.process.pid]
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in METHODS}
    try:
        warm = groups[:1]
        for per_candidate in (False, True):
            asyncio.run(_served(server.base_url, warm, 1, per_candidate))
        hf_loop(model, tokenizer, warm)
        for repeat in range(args.repeats):
            for method in METHODS:

                def once(method: str = method) -> dict[str, Any]:
                    if method == "hf loop":
                        out, seconds = hf_loop(model, tokenizer, groups)
                        return {**record(out, seconds, sequences, tokens), "mean_batch": 1.0}
                    before = model_counts(server)
                    served = _served(server.base_url, groups, args.concurrency, method == "score+argmax")
                    out, seconds = asyncio.run(served)
                    seen = {k: v - before[k] for k, v in model_counts(server).items()}
                    if seen["tokens"] != (tokens if method == "score+argmax" else distinct_tokens):
                        log(f"warning: {method}: the model saw {seen['tokens']:.0f} tokens (truncated?)")
                    return {
                        **record(out, seconds, sequences, int(seen["tokens"])),
                        "mean_batch": seen["sequences"] / seen["batches"],
                    }

                rec = guard.measure(method, pids, once)
                runs[method].append(rec)
                log(
                    f"{method} (repeat {repeat + 1}/{args.repeats}): {rec['groups_per_s']:.3f} groups/s, "
                    f"{rec['sequences_per_s']:.2f} seq/s, {rec['model_tokens_per_s']:.0f} model tok/s, "
                    f"p50 {rec['p50_group_s']:.2f} s/group, "
                    f"others used {rec['other_cpu_share'] or 0:.1%} of the CPU"
                )
    finally:
        server.stop()
        log("server stopped")

    keys = ("groups_per_s", "sequences_per_s", "model_tokens_per_s", "p50_group_s", "mean_batch", "other_cpu_share")
    med = {m: {k: statistics.median(r[k] or 0.0 for r in rs) for k in keys} for m, rs in runs.items()}
    rk = med["best_of_n"]
    print(f"\n{len(groups)} groups, {sequences} candidates ({unique} distinct), {tokens} tokens")
    print(f"median of {args.repeats} repeat(s); seq/s counts every candidate, tok/s what the model computed")
    print(f"{'method':<14}{'groups/s':>10}{'seq/s':>9}{'tok/s':>8}{'p50 s/group':>13}{'batch':>7}{'other':>7}")
    for m in METHODS:
        r = med[m]
        print(
            f"{m:<14}{r['groups_per_s']:>10.3f}{r['sequences_per_s']:>9.2f}{r['model_tokens_per_s']:>8.0f}"
            f"{r['p50_group_s']:>13.2f}{r['mean_batch']:>7.1f}{r['other_cpu_share']:>7.1%}"
        )
    ratios = {
        f"best_of_n / {m}": {
            "throughput": rk["groups_per_s"] / med[m]["groups_per_s"],
            "model_tokens_per_s": rk["model_tokens_per_s"] / med[m]["model_tokens_per_s"],
            "p50_latency": rk["p50_group_s"] / med[m]["p50_group_s"],
        }
        for m in METHODS[1:]
    }
    for name, r in ratios.items():
        print(
            f"{name:<28} groups/s x{r['throughput']:.2f}, model tok/s x{r['model_tokens_per_s']:.2f}, "
            f"p50 latency x{r['p50_latency']:.2f}"
        )
    checks = {f"{a} vs {b}": agreement(runs[a][0], runs[b][0], args.tie_tol) for a, b in [METHODS[:2], METHODS[::2]]}
    for name, c in checks.items():
        print(
            f"{name:<28} same best in {c['same_best']}/{c['groups']} groups ({c['ties']} ties), "
            f"max |score diff| {c['max_abs_score_diff']:.2e}"
        )
    if args.json_out:
        for rs in runs.values():
            for r in rs:
                r.pop("scores")
        payload = {"config": {k: str(v) for k, v in vars(args).items()}, "tokens": tokens, "sequences": sequences}
        payload["distinct"] = unique
        payload.update(runs=runs, medians=med, ratios=ratios, agreement=checks)
        args.json_out.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
