"""Serving benchmark: rewardkit vs vLLM vs the two published recipes vs the no-server limit, in one run.

Same machine, model weights, dtype, tokenizer, torch thread count and inputs for all of them (see
DESIGN.md section 6). Each server is started once as its own process, warmed up, measured on every
workload (``--repeats`` times), and stopped; the no-server limit runs in this process while no
server is up. Each repeat sends texts of its own, and each workload texts no other one sends (see
workloads.py), so a server's prefix cache never sees a text twice. Prints a table, tokens/s against
the machine's peak FLOP/s (machine.py), peak memory, the ratios and the targets, and writes
everything as JSON to ``--json-out``.

    python benchmarks/bench_serving.py --dtype float32 --json-out /tmp/bench.json

Against vLLM's pooling server (``vllm``, from the virtualenv ``benchmarks/vllm_env.sh`` makes): both
servers are sent the same texts through vLLM's ``/classify`` (``--protocol classify``, the default
when vllm is among ``--servers``), with ``use_activation: false`` (raw scores), and after the timed
runs every text is scored once more by each, to compare the scores text by text:

    benchmarks/vllm_env.sh
    python benchmarks/bench_serving.py --dtype bfloat16 --servers rewardkit,vllm --repeats 3

Before and after a change, in one run: ``--before-ref REV`` adds the contender ``rewardkit-before``,
rewardkit's server as of the git revision REV (from a temporary ``git worktree``, removed at the
end), started with the same flags in the same virtual environment. rewardkit and rewardkit-before
are then up together and measured alternately, workload by workload (ABBA order over repeats), and
the ratios include rewardkit / rewardkit-before:

    python benchmarks/bench_serving.py --dtype float32 --servers rewardkit,rewardkit-before \
        --before-ref 9f213bb --repeats 3 --json-out /tmp/before-after.json

This is a command, not a test: timings on shared machines are noisy, so it reports medians over
repeats and asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from bench_model import DTYPES, ensure_model, load_scorer, load_tokenizer
from limit import LIMIT_BATCH_SIZE, LIMIT_BATCH_TOKENS, measure_limit
from loadgen import PROTOCOLS, read_scores, read_tokens, request, run_load, summarize_latencies
from machine import Peak, peak_flops, read_cpuinfo, tokens_flops
from noise import NoiseGuard
from report import LABELS, compute_ratios, evaluate_targets, format_report, median_runs
from servers import SERVERS, VLLM_VENV, RssSampler, RunningServer, ServerKind, start_server, vllm_kind
from shared_data import require
from workloads import HH_PATH, WORKLOADS, RowsExhausted, Workload, build_rounds
from worktree import REPO_ROOT, BeforeBuild, before_kind, before_worktree, resolve_ref

CONTENDERS = ("rewardkit", "rewardkit-before", "vllm", "openrlhf", "batched", "limit")
DEFAULT_SERVERS = ("rewardkit", "openrlhf", "batched", "limit")  # plus rewardkit-before with --before-ref
PAIR = ("rewardkit-before", "rewardkit")  # measured alternately when both run
GET_REWARD_ONLY = ("openrlhf", "batched")  # the recipes speak /get_reward only
Rounds = list[dict[str, Workload]]  # one set of workloads per repeat, each with texts of its own
_T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - _T0:7.1f}s] {message}", flush=True)


def _csv(allowed: tuple[str, ...]) -> Any:
    def parse(value: str) -> list[str]:
        items = [v.strip() for v in value.split(",") if v.strip()]
        unknown = [v for v in items if v not in allowed]
        if unknown or not items:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)} (got {value!r})")
        return items

    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Compare rewardkit's server with vLLM's pooling server, the OpenRLHF-style and batched-style "
        "recipes and the no-server limit, on one machine, model and input set.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--dtype", default="bfloat16", choices=DTYPES, help="Weights and compute dtype for all four.")
    p.add_argument(
        "--model-dir",
        default=None,
        help="Checkpoint folder to use instead of the SmolLM2-shaped one built (once) under ~/.cache/rewardkit/bench.",
    )
    p.add_argument("--workloads", type=_csv(WORKLOADS), default=list(WORKLOADS), help="Comma-separated.")
    p.add_argument(
        "--servers",
        type=_csv(CONTENDERS),
        default=None,
        help=f"Comma-separated; 'limit' is the no-server limit, 'rewardkit-before' rewardkit as of --before-ref, "
        f"'vllm' vLLM's pooling server (from --vllm-venv). "
        f"Default: {','.join(DEFAULT_SERVERS)}, plus rewardkit-before with --before-ref.",
    )
    p.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default=None,
        help="What the load generator speaks to every server: OpenRLHF's /get_reward or vLLM's /classify "
        "(use_activation false). Default: classify when vllm is among --servers, else get_reward.",
    )
    p.add_argument(
        "--vllm-venv",
        type=Path,
        default=VLLM_VENV,
        help="The virtualenv with vLLM's CPU build (benchmarks/vllm_env.sh makes it; env REWARDKIT_VLLM_VENV).",
    )
    p.add_argument("--vllm-flags", default="", help="Extra flags for vLLM's server (e.g. '--max-num-seqs 128').")
    p.add_argument(
        "--ready-timeout", type=float, default=1800.0, help="Seconds to wait for a server's /health (vLLM: minutes)."
    )
    p.add_argument(
        "--cpu-mhz",
        type=float,
        default=None,
        help="Clock for the peak FLOP/s (default: lscpu's max MHz, else /proc/cpuinfo's cpu MHz; see machine.py).",
    )
    p.add_argument(
        "--reference-sample",
        type=int,
        default=16,
        help="With vllm: the first N texts of each workload also scored one at a time by a plain transformers "
        "forward in this process, the reference both servers' scores are compared with (0: skip).",
    )
    p.add_argument(
        "--before-ref",
        default=None,
        metavar="REV",
        help="A git revision (e.g. 9f213bb, HEAD~3): also measure rewardkit's server as of REV ('rewardkit-before'), "
        "from a temporary git worktree, and report rewardkit / rewardkit-before.",
    )
    p.add_argument("--online-requests", type=int, default=384, help="Single-query requests in 'online'.")
    p.add_argument("--concurrency", type=int, default=64, help="Concurrent workers in 'online'.")
    p.add_argument("--bulk-requests", type=int, default=4, help="Requests in 'bulk'.")
    p.add_argument("--bulk-size", type=int, default=64, help="Queries per 'bulk' request.")
    p.add_argument("--bulk-concurrency", type=int, default=2, help="Concurrent workers in 'bulk'.")
    p.add_argument("--bon-groups", type=int, default=32, help="Groups of 8 candidates (one request each) in 'bon'.")
    p.add_argument("--bon-concurrency", type=int, default=8, help="Concurrent workers in 'bon'.")
    p.add_argument(
        "--grpo-groups", type=int, default=24, help="Prompts x 8 answers in 'grpo', each answer its own request."
    )
    p.add_argument("--grpo-concurrency", type=int, default=64, help="Concurrent workers in 'grpo'.")
    p.add_argument(
        "--baseline-batch-size",
        type=int,
        default=64,
        help="openrlhf-style micro-batch size within a request.",
    )
    p.add_argument(
        "--rewardkit-flags",
        default="",
        help="Extra `rewardkit serve` flags for the rewardkit contender only (e.g. '--compile'); with "
        "--before-ref HEAD this measures a flag by itself.",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="Measurements per server and workload, each with texts of its own; medians reported.",
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        default=512,
        help="Texts are cut to this many tokens (keeping the end) before sending, so no server truncates.",
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads for all four (0: torch's default).")
    p.add_argument("--seed", type=int, default=0, help="Order of the dialogues.")
    p.add_argument("--data", type=Path, default=HH_PATH, help="hh-rlhf JSONL.gz with chosen/rejected.")
    p.add_argument("--log-dir", type=Path, default=None, help="Where server logs go (default: a temp folder).")
    p.add_argument(
        "--max-noise",
        type=float,
        default=0.05,
        help="Largest share of the machine's CPU that other processes may use during a measurement; above it "
        "the benchmark waits for quiet and measures again.",
    )
    p.add_argument("--noise-retries", type=int, default=2, help="Extra attempts for a measurement taken under load.")
    p.add_argument(
        "--quiet-wait", type=float, default=300.0, help="Most seconds to wait for a quiet machine before measuring."
    )
    p.add_argument("--json-out", type=Path, default=None, help="Write all figures, ratios and targets here.")
    args = p.parse_args(argv)
    require(args.data, "HH-RLHF harmless-base dialogues")
    if args.servers is None:
        args.servers = list(DEFAULT_SERVERS) + (["rewardkit-before"] if args.before_ref else [])
    if "rewardkit-before" in args.servers and not args.before_ref:
        p.error("--servers rewardkit-before needs --before-ref REV (the git revision to measure)")
    if args.before_ref and "rewardkit-before" not in args.servers:
        p.error("--before-ref is given but --servers leaves out rewardkit-before; add it to --servers")
    if args.before_ref:
        try:
            resolve_ref(args.before_ref)
        except RuntimeError as exc:
            p.error(f"--before-ref {args.before_ref!r} is not a commit of this repository ({exc})")
    if len(set(args.servers)) != len(args.servers):
        p.error(f"--servers names a contender twice: {','.join(args.servers)}")
    if args.protocol is None:
        args.protocol = "classify" if "vllm" in args.servers else "get_reward"
    if args.protocol == "classify" and set(GET_REWARD_ONLY) & set(args.servers):
        p.error(f"--protocol classify: {' and '.join(GET_REWARD_ONLY)} speak /get_reward only; leave them out")
    if "vllm" in args.servers and args.protocol != "classify":
        p.error("vllm speaks /classify, not /get_reward: use --protocol classify")
    return args


@dataclass(frozen=True)
class Work:
    """What the figures are measured against: the model's FLOPs per text and the machine's peak."""

    config: dict[str, Any]
    peak: Peak | None

    def flops(self, workload: Workload) -> float:
        return tokens_flops(self.config, (n for request in workload.tokens for n in request))


def _record(
    workload: Workload,
    seconds: float,
    latencies: list[float],
    failures: int,
    real: int | None,
    padded: int | None,
    work: Work,
) -> dict[str, Any]:
    flops_per_s = work.flops(workload) / seconds
    return {
        "seconds": seconds,
        "model_tflops": flops_per_s / 1e12,
        "peak_fraction": None if work.peak is None else flops_per_s / work.peak.flops,
        "queries_per_s": workload.num_queries / seconds,
        "tokens_per_s": workload.num_tokens / seconds,
        **summarize_latencies(latencies),
        "padding_waste": None if not padded else (padded - (real or 0)) / padded,
        "model_real_tokens": real,
        "model_padded_tokens": padded,
        "sent_tokens": workload.num_tokens,
        "queries": workload.num_queries,
        "failures": failures,
    }


def warm_up(name: str, server: RunningServer, workloads: dict[str, Workload], protocol: str) -> None:
    warm = run_load(server.base_url, workloads["warmup"], protocol=protocol)
    log(f"{LABELS[name]}: warmed up ({len(warm.latencies)} requests, {warm.failures} failures)")


def measure_once(
    name: str,
    server: RunningServer,
    w: str,
    workload: Workload,
    repeat: int,
    repeats: int,
    guard: NoiseGuard,
    protocol: str,
    work: Work,
) -> dict[str, Any]:
    """One measurement of ``server`` on workload ``w`` (retried by ``guard`` if the machine was busy), with
    the peak RSS of the server's processes sampled meanwhile."""
    log(f"{LABELS[name]}: {w} (repeat {repeat + 1}/{repeats}) ...")
    own_pids = [os.getpid(), *(proc.pid for proc in server.tree())]  # vLLM computes in child processes

    def once() -> dict[str, Any]:
        before = server.counters()
        with RssSampler(server) as rss:
            load = run_load(server.base_url, workload, protocol=protocol)
        after = server.counters()
        if load.errors:
            log(f"{LABELS[name]}: {load.failures} failed requests, e.g. {'; '.join(load.errors)}")
        delta = {k: after[k] - before[k] for k in after}
        rec = _record(
            workload,
            load.seconds,
            load.latencies,
            load.failures,
            int(delta["real_tokens"]),
            int(delta["padded_tokens"]),
            work,
        )
        rec.update(
            batches=int(delta["batches"]),
            mean_batch_size=workload.num_queries / max(1.0, delta["batches"]),
            model_busy_share=delta["forward_seconds"] / load.seconds if "forward_seconds" in delta else None,
            peak_rss_mib=rss.peak_mib,
            server_processes=rss.processes,
            prefix_cached_share=delta["cached_tokens"] / max(1.0, delta["real_tokens"])
            if "cached_tokens" in delta
            else None,
        )
        return rec

    rec = guard.measure(f"{LABELS[name]}: {w}", own_pids, once)
    shares = rec.pop("own_cpu_shares")
    rec["client_cpu_share"], rec["server_cpu_share"] = (shares[0], sum(shares[1:])) if shares else (None, None)
    log(f"{LABELS[name]}: {w}: {_summary(rec)}")
    if rec["model_real_tokens"] != workload.num_tokens and not rec["failures"]:
        log(
            f"warning: {LABELS[name]} computed {rec['model_real_tokens']} real tokens for {w}, "
            f"{workload.num_tokens} were sent: it tokenized or truncated differently"
        )
    return rec


def measure_server(
    name: str,
    server: RunningServer,
    rounds: Rounds,
    names: list[str],
    guard: NoiseGuard,
    protocol: str,
    work: Work,
) -> dict[str, list[dict[str, Any]]]:
    warm_up(name, server, rounds[0], protocol)
    runs: dict[str, list[dict[str, Any]]] = {w: [] for w in names}
    for repeat, workloads in enumerate(rounds):
        for w in names:
            runs[w].append(measure_once(name, server, w, workloads[w], repeat, len(rounds), guard, protocol, work))
    return runs


def measure_pair(
    servers: dict[str, RunningServer],
    rounds: Rounds,
    names: list[str],
    guard: NoiseGuard,
    protocol: str,
    work: Work,
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Two servers that are both up, measured alternately: each workload of each repeat is measured on one
    right after the other, the first one switching from workload to workload and from repeat to repeat
    (ABBA), so slow drifts of the machine fall on both alike. Both get the same warm-up first. The one not
    being measured sits idle; whatever CPU it uses counts as other processes' share."""
    pair = list(servers)
    for name in pair:
        warm_up(name, servers[name], rounds[0], protocol)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {name: {w: [] for w in names} for name in pair}
    for repeat, workloads in enumerate(rounds):
        for i, w in enumerate(names):
            order = pair if (repeat + i) % 2 == 0 else pair[::-1]
            for name in order:
                runs[name][w].append(
                    measure_once(name, servers[name], w, workloads[w], repeat, len(rounds), guard, protocol, work)
                )
    return runs


def measure_no_server(
    model_dir: Path,
    dtype: str,
    rounds: Rounds,
    names: list[str],
    guard: NoiseGuard,
    work: Work,
) -> dict[str, list[dict[str, Any]]]:
    scorer = load_scorer(model_dir, dtype)
    measure_limit(scorer, rounds[0]["warmup"])
    runs: dict[str, list[dict[str, Any]]] = {w: [] for w in names}
    for repeat, workloads in enumerate(rounds):
        for w in names:
            log(f"no-server limit: {w} (repeat {repeat + 1}/{len(rounds)}) ...")

            def once(workload: Workload = workloads[w]) -> dict[str, Any]:
                result = measure_limit(scorer, workload)
                rec = _record(workload, result.seconds, [], 0, result.real_tokens, result.padded_tokens, work)
                rec.update(
                    mean_s=None,
                    p50_s=None,
                    p99_s=None,
                    batches=result.batches,
                    mean_batch_size=workload.num_queries / result.batches,
                    model_busy_share=1.0,
                )
                return rec

            rec = guard.measure(f"no-server limit: {w}", [os.getpid()], once)
            rec["client_cpu_share"], rec["server_cpu_share"] = None, (rec.pop("own_cpu_shares") or [None])[0]
            runs[w].append(rec)
            log(f"no-server limit: {w}: {_summary(rec)}")
    return runs  # the model is freed with this frame


def _summary(rec: dict[str, Any]) -> str:
    text = f"{rec['queries_per_s']:.2f} q/s, {rec['tokens_per_s']:.0f} tok/s"
    if rec.get("p50_s") is not None:
        text += f", mean {rec['mean_s']:.3f}s, p50 {rec['p50_s']:.3f}s, p99 {rec['p99_s']:.3f}s"
    if rec.get("padding_waste") is not None:
        text += f", padding {100 * rec['padding_waste']:.1f}%"
    if rec.get("batches"):
        text += f", {rec['batches']} batches of {rec['mean_batch_size']:.1f} on average"
    if rec.get("model_busy_share") is not None:
        text += f", model busy {rec['model_busy_share']:.0%} of the wall time"
    if rec.get("peak_fraction") is not None:
        text += f", {rec['model_tflops']:.3f} TFLOP/s of text work = {rec['peak_fraction']:.1%} of peak"
    if rec.get("peak_rss_mib") is not None:
        text += f", peak RSS {rec['peak_rss_mib']:.0f} MiB ({rec['server_processes']} processes)"
    if rec.get("prefix_cached_share") is not None:
        text += f", {rec['prefix_cached_share']:.1%} of prompt tokens from its prefix cache"
    if rec.get("server_cpu_share") is not None:
        text += f", server used {rec['server_cpu_share']:.0%} of the CPU"
    if rec.get("client_cpu_share") is not None:
        text += f", load generator {rec['client_cpu_share']:.0%}"
    share = rec.get("other_cpu_share")
    return (
        text + f", failures {rec['failures']}" + (f", others used {share:.0%} of the CPU" if share is not None else "")
    )


def server_args(name: str, args: argparse.Namespace) -> list[str]:
    """Per-server flags: rewardkit runs with its defaults plus --rewardkit-flags (rewardkit-before
    without them, so one run can measure a flag), and the batched recipe with its own (8, 100 ms)."""
    if name == "rewardkit":
        return ["--log-level", "warning", *args.rewardkit_flags.split()]
    if name == "rewardkit-before":
        return ["--log-level", "warning"]
    if name == "openrlhf":
        return ["--batch-size", str(args.baseline_batch_size)]
    if name == "vllm":
        return args.vllm_flags.split()
    return []


def rewardkit_version(before: BeforeBuild | None = None) -> dict[str, Any]:
    """Which rewardkit was measured: the git commit, and whether src/ differed from it; with ``before``,
    also the revision rewardkit-before ran (as given, the commit it names, and its version)."""
    import subprocess

    import rewardkit

    def git(*cmd: str) -> str:
        try:
            return subprocess.run(
                ["git", *cmd], cwd=REPO_ROOT, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    out: dict[str, Any] = {
        "version": rewardkit.__version__,
        "commit": git("rev-parse", "HEAD") or None,
        "src_modified": bool(git("status", "--porcelain", "src")),
    }
    if before is not None:
        out["before"] = before.describe()
    return out


def machine_facts() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = read_cpuinfo()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cpu_flags": sorted(f for f in info.flags if f.startswith(("avx", "amx", "fma"))),
        "cpu_mhz": info.mhz,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # children read it at start
        import torch

        torch.set_num_threads(args.threads)
    with contextlib.ExitStack() as stack:
        before = stack.enter_context(before_worktree(args.before_ref, log)) if args.before_ref else None
        return run(args, argv, before)


def _start(
    name: str,
    kind: ServerKind,
    model_dir: Path,
    args: argparse.Namespace,
    log_dir: Path,
    errors: dict[str, str],
    settings: dict[str, dict[str, Any]],
) -> RunningServer | None:
    """Start one contender and note its settings, or note why it did not start (None)."""
    log(f"{LABELS[name]}: starting" + (" (vLLM takes minutes to start)" if name == "vllm" else ""))
    try:
        server = start_server(kind, model_dir, args.dtype, log_dir, server_args(name, args), args.ready_timeout)
    except RuntimeError as exc:
        log(f"{LABELS[name]}: failed to start: {exc}")
        errors[name] = str(exc)
        return None
    try:
        settings[name] = server.settings()
    except BaseException:
        server.stop()
        raise
    log(f"{LABELS[name]}: ready on port {server.port} (pid {server.process.pid}), settings {settings[name]}")
    return server


SCORE_CHUNK = 32


def distinct_texts(workload: Workload) -> list[str]:
    return list(dict.fromkeys(t for request in workload.requests for t in request))


def collect_scores(
    server: RunningServer,
    workloads: dict[str, Workload],
    names: list[str],
    protocol: str = "get_reward",
    tokens: dict[str, int | None] | None = None,
) -> dict[str, list[float]]:
    """Every distinct text of each workload scored once by ``server``, in a fixed order (in chunks, after
    the timed runs), so two servers' scores can be compared text by text. With ``tokens``, also the prompt
    tokens the server says it scored per workload (/classify's usage; None where it does not say)."""
    out: dict[str, list[float]] = {}
    with httpx.Client(base_url=server.base_url, timeout=600.0) as client:
        for w in names:
            texts = distinct_texts(workloads[w])
            scores: list[float] = []
            counted: int | None = 0
            for start in range(0, len(texts), SCORE_CHUNK):
                url, body = request(protocol, texts[start : start + SCORE_CHUNK])
                answer = client.post(url, json=body)
                answer.raise_for_status()
                scores.extend(read_scores(protocol, answer.json()))
                n = read_tokens(protocol, answer.json())
                counted = None if n is None or counted is None else counted + n
            out[w] = scores
            if tokens is not None:
                tokens[w] = counted
    return out


def score_differences(scores: dict[str, dict[str, list[float]]], names: list[str]) -> dict[str, float | None]:
    """The largest |rewardkit - openrlhf-style| score per workload (None where one was not scored)."""
    ours, theirs = scores.get("rewardkit"), scores.get("openrlhf")
    if not ours or not theirs:
        return {}
    return {w: max((abs(a - b) for a, b in zip(ours[w], theirs[w])), default=0.0) for w in names}


def _pearson(a: list[float], b: list[float]) -> float | None:
    if len(a) < 2:
        return None
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    var = math.sqrt(sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b))
    return cov / var if var else None


def compare_scores(
    first: dict[str, list[float]],
    second: dict[str, list[float]],
    first_tokens: dict[str, int | None] | None = None,
    second_tokens: dict[str, int | None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per workload: texts compared, max |first - second|, pearson, and whether both scored as many tokens."""
    out: dict[str, dict[str, Any]] = {}
    for w in first:
        if w not in second:
            continue
        a, b = first[w], second[w][: len(first[w])]
        a = a[: len(b)]
        rec: dict[str, Any] = {
            "texts": len(a),
            "max_abs_diff": max((abs(x - y) for x, y in zip(a, b)), default=None),
            "pearson": _pearson(a, b),
        }
        n1, n2 = (first_tokens or {}).get(w), (second_tokens or {}).get(w)
        if n1 is not None and n2 is not None:
            rec["same_tokens"], rec["tokens"] = n1 == n2, [n1, n2]
        out[w] = rec
    return out


def reference_scores(
    model_dir: Path, dtype: str, workloads: dict[str, Workload], names: list[str], sample: int
) -> dict[str, list[float]]:
    """The first ``sample`` distinct texts of each workload scored one at a time (no padding) by a plain
    transformers forward in this process: what both servers' scores are compared with."""
    scorer = load_scorer(model_dir, dtype)
    return {w: [scorer.score_texts([t])[0][0] for t in distinct_texts(workloads[w])[:sample]] for w in names}


def score_agreement(
    scores: dict[str, dict[str, list[float]]], tokens: dict[str, dict[str, int | None]]
) -> dict[str, dict[str, dict[str, Any]]]:
    """rewardkit's scores against each other server's, text by text (same texts, same order)."""
    if "rewardkit" not in scores:
        return {}
    return {
        f"rewardkit_vs_{other}": compare_scores(scores["rewardkit"], scores[other], tokens["rewardkit"], tokens[other])
        for other in scores
        if other != "rewardkit"
    }


def _stop(name: str, server: RunningServer) -> None:
    server.stop()
    log(f"{LABELS[name]}: stopped")


def workloads_from_args(tokenizer: Any, args: argparse.Namespace, rounds: int = 1) -> Rounds:
    """The workloads this command line asks for, ``rounds`` times with texts of their own (check_scores.py
    builds the first round)."""
    return build_rounds(
        tokenizer,
        rounds=rounds,
        names=args.workloads,
        max_tokens=args.max_tokens,
        online_requests=args.online_requests,
        concurrency=args.concurrency,
        bulk_requests=args.bulk_requests,
        bulk_size=args.bulk_size,
        bulk_concurrency=args.bulk_concurrency,
        bon_groups=args.bon_groups,
        bon_concurrency=args.bon_concurrency,
        grpo_groups=args.grpo_groups,
        grpo_concurrency=args.grpo_concurrency,
        seed=args.seed,
        data=args.data,
    )


def run(args: argparse.Namespace, argv: list[str] | None, before: BeforeBuild | None) -> int:
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="rewardkit-bench-"))
    model_dir = ensure_model(args.model_dir, args.dtype)
    log(f"model {model_dir} ({args.dtype}); server logs in {log_dir}")
    tokenizer = load_tokenizer(model_dir)
    try:
        rounds = workloads_from_args(tokenizer, args, rounds=args.repeats)
    except RowsExhausted as exc:
        log(f"error: {exc}")
        return 2
    workloads = rounds[0]
    for w in args.workloads:
        again = f" (and {args.repeats - 1} more rounds like it, texts of their own)" if args.repeats > 1 else ""
        log(f"workload {workloads[w].describe()}{again}")
    facts = machine_facts()
    peak = peak_flops(args.dtype, mhz=args.cpu_mhz)
    work = Work(json.loads((model_dir / "config.json").read_text()), peak)
    provenance = rewardkit_version(before)  # before the server starts: src/ may change while the run goes on
    log(f"rewardkit {provenance}")
    log(
        f"machine: {facts['cpu']}, {facts['cores']} cores, torch {facts['torch']} with {facts['torch_threads']} threads"
    )
    log(f"peak: {peak.how if peak else 'unknown (no clock in /proc/cpuinfo or lscpu)'}")
    log(f"protocol: {args.protocol}")

    kinds = dict(SERVERS)
    if before is not None:
        kinds["rewardkit-before"] = before_kind(before)
    if "vllm" in args.servers:
        try:
            kinds["vllm"] = vllm_kind(args.vllm_venv, args.threads)
        except RuntimeError as exc:
            log(f"error: {exc}")
            return 2
    guard = NoiseGuard(max_share=args.max_noise, retries=args.noise_retries, quiet_wait_s=args.quiet_wait, log=log)
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {}
    errors: dict[str, str] = {}
    settings: dict[str, dict[str, Any]] = {}
    scores: dict[str, dict[str, list[float]]] = {}
    scored_tokens: dict[str, dict[str, int | None]] = {}
    protocol = args.protocol

    def collect(member: str, server: RunningServer) -> None:
        scored_tokens[member] = {}
        scores[member] = collect_scores(server, workloads, args.workloads, protocol, scored_tokens[member])

    paired = [name for name in args.servers if name in PAIR]
    if len(paired) < 2:
        paired = []
    for name in args.servers:
        if name == "limit":
            log("no-server limit: loading the model in-process")
            raw[name] = measure_no_server(model_dir, args.dtype, rounds, args.workloads, guard, work)
            continue
        if name in paired:
            if name != paired[0]:
                continue  # measured with the first of the pair
            log(f"{' and '.join(paired)}: both up, measured alternately")
            with contextlib.ExitStack() as stack:
                up: dict[str, RunningServer] = {}
                for member in paired:
                    server = _start(member, kinds[member], model_dir, args, log_dir, errors, settings)
                    if server is not None:
                        stack.callback(_stop, member, server)
                        up[member] = server
                if len(up) == 2:
                    raw.update(measure_pair(up, rounds, args.workloads, guard, protocol, work))
                else:  # the other one failed to start: measure this one alone
                    for member, server in up.items():
                        raw[member] = measure_server(member, server, rounds, args.workloads, guard, protocol, work)
                for member, server in up.items():
                    collect(member, server)
            continue
        server = _start(name, kinds[name], model_dir, args, log_dir, errors, settings)
        if server is None:
            continue
        try:
            raw[name] = measure_server(name, server, rounds, args.workloads, guard, protocol, work)
            collect(name, server)
        finally:
            _stop(name, server)

    agreement = score_agreement(scores, scored_tokens)
    if "vllm" in scores and args.reference_sample > 0:
        log(f"scoring the first {args.reference_sample} texts of each workload one at a time with transformers")
        reference = reference_scores(model_dir, args.dtype, workloads, args.workloads, args.reference_sample)
        for name in ("rewardkit", "vllm"):
            if name in scores:
                agreement[f"{name}_vs_transformers"] = compare_scores(scores[name], reference)
    results = {name: {w: median_runs(runs) for w, runs in per.items()} for name, per in raw.items()}
    ratios = compute_ratios(results, args.workloads)
    differences = score_differences(scores, args.workloads)
    targets = evaluate_targets(ratios, args.workloads, results, differences, agreement, args.dtype)
    before_name = None if before is None else f"{before.ref}, commit {before.commit[:12]}"
    report = format_report(
        results,
        ratios,
        targets,
        args.workloads,
        before=before_name,
        agreement=agreement,
        peak=peak.how if peak else None,
    )
    print(report, flush=True)
    total_failures = sum(r["failures"] for per in results.values() for r in per.values())
    print(f"\nfailed requests: {total_failures}; server start errors: {len(errors)}", flush=True)

    if args.json_out:
        payload = {
            "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "model_dir": str(model_dir),
            "machine": facts,
            "rewardkit": provenance,
            "limit_plan": {"max_batch_tokens": LIMIT_BATCH_TOKENS, "max_batch_size": LIMIT_BATCH_SIZE},
            "workloads": {w: workloads[w].describe() for w in args.workloads},
            "server_settings": settings,
            "results": results,
            "runs": raw,
            "ratios": ratios,
            "targets": targets,
            "score_differences": differences,
            "score_agreement": agreement,
            "peak": peak.as_dict() if peak else None,
            "protocol": protocol,
            "errors": errors,
        }
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(payload, indent=2))
        log(f"wrote {args.json_out}")
    return 1 if total_failures or errors else 0


if __name__ == "__main__":
    sys.exit(main())
