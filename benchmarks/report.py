"""Figures -> medians over repeats, the table, the ratios, and the issue's targets as pass/fail.

Padding waste is the share of the tokens the model computed that were padding:
``(padded - real) / padded``. "batch" is the mean number of sequences per forward pass; "busy %" the
share of the wall time the server spent in forward passes (tokenization included for the baselines;
rewardkit tokenizes beside them). "srv %", "gen %" and "oth %" are the shares of the machine's CPU
(all cores) used by the server, by the load generator (this process) and by everything else during
the measurement (see noise.py); for the no-server limit "srv %" is this process. Ratios of
queries/s above 1 favour rewardkit; ratios of latencies below 1 favour rewardkit. "rewardkit-before"
is rewardkit as of an earlier git revision (``--before-ref``); "rewardkit / rewardkit-before" above 1
in queries/s (below 1 in latency) means the current code is faster.

The machine table: "TFLOP/s" is the model work done per second, the FLOPs of scoring each text on its
own (machine.py: ~2 x weights per token plus attention), whatever a server saved by sharing prompts;
"% peak" that as a share of the machine's peak FLOP/s for the dtype (machine.py says how it is
computed, and the report prints it); "RSS MiB" the peak resident memory of the server's processes
summed (vLLM runs an API process, an engine core and a worker), sampled while the workload ran;
"cached %" the share of the prompt tokens a server took from its prefix cache across batches (rewardkit's
in-row sharing of a prompt within one batch is not counted there).
"""

from __future__ import annotations

import statistics
from typing import Any

__all__ = [
    "LABELS",
    "METRICS",
    "compute_ratios",
    "evaluate_targets",
    "format_agreement",
    "format_report",
    "median_runs",
]

LABELS = {
    "rewardkit": "rewardkit",
    "rewardkit-before": "rewardkit-before",
    "openrlhf": "openrlhf-style",
    "batched": "batched-style",
    "vllm": "vLLM",
    "limit": "no-server limit",
}
METRICS = (
    "queries_per_s",
    "tokens_per_s",
    "mean_s",
    "p50_s",
    "p99_s",
    "padding_waste",
    "mean_batch_size",
    "model_busy_share",
    "server_cpu_share",
    "client_cpu_share",
    "other_cpu_share",
    "peak_rss_mib",
    "model_tflops",
    "peak_fraction",
    "prefix_cached_share",
)
VLLM_TARGETS = (("online", 1.0), ("bulk", 1.0), ("bon", 1.3), ("grpo", 1.3))


def median_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of each metric over repeats (None where a metric does not apply), plus the failure total."""
    out: dict[str, Any] = {}
    for metric in METRICS:
        values = [r[metric] for r in runs if r.get(metric) is not None]
        out[metric] = statistics.median(values) if values else None
    out["failures"] = sum(r.get("failures", 0) for r in runs)
    out["repeats"] = len(runs)
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _get(results: dict[str, dict[str, dict[str, Any]]], server: str, workload: str, metric: str) -> float | None:
    return results.get(server, {}).get(workload, {}).get(metric)


def compute_ratios(results: dict[str, dict[str, dict[str, Any]]], workloads: list[str]) -> dict[str, Any]:
    ratios: dict[str, Any] = {"qps_vs_limit": {}, "rewardkit_vs_openrlhf": {}, "rewardkit_vs_batched": {}}
    for server in results:
        if server == "limit":
            continue
        ratios["qps_vs_limit"][server] = {
            w: _ratio(_get(results, server, w, "queries_per_s"), _get(results, "limit", w, "queries_per_s"))
            for w in workloads
        }
    for other in ("openrlhf", "batched"):
        ratios[f"rewardkit_vs_{other}"] = _versus(results, other, workloads)
    if "vllm" in results:
        ratios["rewardkit_vs_vllm"] = _versus(results, "vllm", workloads)
    if "rewardkit-before" in results:
        ratios["rewardkit_vs_before"] = _versus(results, "rewardkit-before", workloads)
    return ratios


def _versus(results: dict[str, dict[str, dict[str, Any]]], other: str, workloads: list[str]) -> dict[str, Any]:
    """rewardkit's q/s, tokens/s, latencies and peak memory divided by ``other``'s, per workload."""
    return {
        w: {
            "qps": _ratio(_get(results, "rewardkit", w, "queries_per_s"), _get(results, other, w, "queries_per_s")),
            "tokens_per_s": _ratio(
                _get(results, "rewardkit", w, "tokens_per_s"), _get(results, other, w, "tokens_per_s")
            ),
            "peak_rss": _ratio(_get(results, "rewardkit", w, "peak_rss_mib"), _get(results, other, w, "peak_rss_mib")),
            "mean_latency": _ratio(_get(results, "rewardkit", w, "mean_s"), _get(results, other, w, "mean_s")),
            "p50_latency": _ratio(_get(results, "rewardkit", w, "p50_s"), _get(results, other, w, "p50_s")),
            "p99_latency": _ratio(_get(results, "rewardkit", w, "p99_s"), _get(results, other, w, "p99_s")),
        }
        for w in workloads
    }


def evaluate_targets(
    ratios: dict[str, Any],
    workloads: list[str],
    results: dict[str, dict[str, dict[str, Any]]] | None = None,
    score_differences: dict[str, float | None] | None = None,
    agreement: dict[str, dict[str, dict[str, Any]]] | None = None,
    dtype: str = "float32",
) -> list[dict[str, Any]]:
    """The issue's targets (all against the openrlhf-style server and the padded limit; the batched-style
    ratios are in the table); a target whose inputs were not measured is reported as not evaluated (None).
    ``results`` gives the server's CPU share during online; ``score_differences`` the largest
    |rewardkit - openrlhf-style| score per workload (comparable when rewardkit runs with --append-eos);
    ``agreement`` the score comparisons by pair ("rewardkit_vs_vllm", "rewardkit_vs_transformers", ...)."""
    rk_limit = ratios["qps_vs_limit"].get("rewardkit", {})
    vs_o = ratios["rewardkit_vs_openrlhf"]

    def target(name: str, value: float | None, op: str, threshold: float, spec: str = ".2f") -> dict[str, Any]:
        passed = (
            None
            if value is None
            else (value >= threshold if op == ">=" else value < threshold if op == "<" else value <= threshold)
        )
        return {"target": name, "value": value, "op": op, "threshold": threshold, "passed": passed, "spec": spec}

    out = []
    if "online" in workloads:
        out += [
            target("online: rewardkit q/s vs openrlhf-style", vs_o["online"]["qps"], ">=", 1.4),
            target(
                "online: rewardkit p99 latency vs openrlhf-style (no worse)", vs_o["online"]["p99_latency"], "<=", 1.0
            ),
            target("online: rewardkit q/s vs padded no-server limit", rk_limit.get("online"), ">=", 1.2),
        ]
    for workload, threshold in (("grpo", 2.0), ("bon", 2.5), ("bulk", 5.0)):
        if workload in workloads:
            out.append(target(f"{workload}: rewardkit q/s vs openrlhf-style", vs_o[workload]["qps"], ">=", threshold))
    online = (results or {}).get("rewardkit", {}).get("online") or {}
    if "online" in workloads and results is not None:
        share = online.get("server_cpu_share")
        out.append(target("online: rewardkit server CPU, cores of 2", None if share is None else 2 * share, ">=", 1.9))
    for workload, difference in (score_differences or {}).items():
        out.append(target(f"{workload}: max |score - openrlhf-style score|", difference, "<=", 1e-4, ".1e"))
    out += _vllm_targets(ratios, workloads, agreement or {}, dtype, target)
    return out


def _vllm_targets(
    ratios: dict[str, Any], workloads: list[str], agreement: dict[str, dict[str, Any]], dtype: str, target: Any
) -> list[dict[str, Any]]:
    """Issue 25: at least vLLM's q/s on online and bulk, 1.3x on bon and grpo, online p99 and peak memory no
    worse; float32 scores equal to 1e-4; bf16 scores no further from a plain transformers forward (one text at
    a time, on a sample) than vLLM's are."""
    vs_v = ratios.get("rewardkit_vs_vllm")
    out: list[dict[str, Any]] = []
    if vs_v is None:
        return out
    for workload, threshold in VLLM_TARGETS:
        if workload in workloads:
            out.append(target(f"{workload}: rewardkit q/s vs vLLM", vs_v[workload]["qps"], ">=", threshold))
    if "online" in workloads:
        out.append(target("online: rewardkit p99 latency vs vLLM (no worse)", vs_v["online"]["p99_latency"], "<=", 1.0))
    peaks = [vs_v[w]["peak_rss"] for w in workloads if vs_v[w]["peak_rss"] is not None]
    out.append(target("peak RSS under load: rewardkit vs vLLM (no more)", max(peaks) if peaks else None, "<=", 1.0))
    if dtype == "float32":
        for workload, a in (agreement.get("rewardkit_vs_vllm") or {}).items():
            out.append(target(f"{workload}: max |rewardkit - vLLM score|", a.get("max_abs_diff"), "<=", 1e-4, ".1e"))
        return out
    # bf16: over all sampled texts, rewardkit no further from a plain transformers forward than vLLM is
    ours = [a.get("max_abs_diff") for a in (agreement.get("rewardkit_vs_transformers") or {}).values()]
    theirs = [a.get("max_abs_diff") for a in (agreement.get("vllm_vs_transformers") or {}).values()]
    ours, theirs = [d for d in ours if d is not None], [d for d in theirs if d is not None]
    if ours and theirs and max(theirs) > 0:
        name = "all workloads: max |rewardkit - transformers| / max |vLLM - transformers| (sampled texts)"
        out.append(target(name, max(ours) / max(theirs), "<=", 1.0))
    return out


def format_agreement(agreement: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Lines for each compared pair: per workload, texts, max |difference|, pearson, whether token counts match."""
    lines: list[str] = []
    for pair, per_workload in agreement.items():
        first, _, second = pair.partition("_vs_")
        lines += ["", f"scores, {LABELS.get(first, first)} vs {LABELS.get(second, second)} (same texts, text by text):"]
        for w, a in per_workload.items():
            tokens = a.get("same_tokens")
            lines.append(
                f"  {w:<8} {a['texts']} texts: max |diff| {_fmt(a.get('max_abs_diff'), '.1e')}, "
                f"pearson {_fmt(a.get('pearson'), '.6f')}"
                + ("" if tokens is None else f", token counts {'equal' if tokens else 'DIFFER ' + str(a['tokens'])}")
            )
    return lines


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_report(
    results: dict[str, dict[str, dict[str, Any]]],
    ratios: dict[str, Any],
    targets: list[dict[str, Any]],
    workloads: list[str],
    before: str | None = None,
    agreement: dict[str, dict[str, dict[str, Any]]] | None = None,
    peak: str | None = None,
) -> str:
    """The table, the machine table, the ratios, the score agreement and the targets; ``before`` names the
    revision rewardkit-before ran, if any; ``peak`` says how the machine's peak FLOP/s was computed."""
    lines = [
        "",
        f"{'server':<16} {'workload':<8} {'q/s':>8} {'tok/s':>8} {'mean s':>8} {'p50 s':>8} {'p99 s':>8} "
        f"{'pad %':>6} {'batch':>6} {'busy%':>6} {'srv%':>5} {'gen%':>5} {'oth%':>5} {'fails':>5}",
    ]
    for server, per_workload in results.items():
        for w in workloads:
            r = per_workload.get(w)
            if r is None:
                continue
            waste = None if r["padding_waste"] is None else 100 * r["padding_waste"]
            pct = {k: None if r[k] is None else 100 * r[k] for k in METRICS if k.endswith("_share")}
            lines.append(
                f"{LABELS[server]:<16} {w:<8} {_fmt(r['queries_per_s'], '.2f'):>8} "
                f"{_fmt(r['tokens_per_s'], '.0f'):>8} "
                f"{_fmt(r['mean_s'], '.3f'):>8} {_fmt(r['p50_s'], '.3f'):>8} {_fmt(r['p99_s'], '.3f'):>8} "
                f"{_fmt(waste, '.1f'):>6} {_fmt(r['mean_batch_size'], '.1f'):>6} "
                f"{_fmt(pct['model_busy_share'], '.0f'):>6} "
                f"{_fmt(pct['server_cpu_share'], '.0f'):>5} {_fmt(pct['client_cpu_share'], '.0f'):>5} "
                f"{_fmt(pct['other_cpu_share'], '.0f'):>5} {r['failures']:>5}"
            )
    lines += [
        "",
        "against the machine" + (f" (peak: {peak})" if peak else "") + ":",
        "(TFLOP/s: the model FLOPs of every token sent, per second, a prompt shared by several texts counted",
        " once per text; a server that computes a shared or cached prefix once does less arithmetic than",
        " that and can read above 100%, as can any CPU boosting above the clock /proc/cpuinfo reports)",
        f"{'server':<16} {'workload':<8} {'tok/s':>8} {'TFLOP/s':>8} {'% peak':>7} {'RSS MiB':>8} {'cached %':>8}",
    ]
    for server, per_workload in results.items():
        for w in workloads:
            r = per_workload.get(w)
            if r is None:
                continue
            fraction = None if r.get("peak_fraction") is None else 100 * r["peak_fraction"]
            cached = None if r.get("prefix_cached_share") is None else 100 * r["prefix_cached_share"]
            lines.append(
                f"{LABELS[server]:<16} {w:<8} {_fmt(r['tokens_per_s'], '.0f'):>8} "
                f"{_fmt(r.get('model_tflops'), '.3f'):>8} {_fmt(fraction, '.1f'):>7} "
                f"{_fmt(r.get('peak_rss_mib'), '.0f'):>8} {_fmt(cached, '.1f'):>8}"
            )
    lines += ["", "queries/s as a fraction of the no-server limit:"]
    for server, per_workload in ratios["qps_vs_limit"].items():
        parts = ", ".join(f"{w} {_fmt(v, '.2f')}" for w, v in per_workload.items())
        lines.append(f"  {LABELS[server]:<16} {parts}")
    for other in ("vllm", "openrlhf", "batched", "before"):
        key = f"rewardkit_vs_{other}"
        if key not in ratios or all(r["qps"] is None for r in ratios[key].values()):
            continue  # not measured in this run
        if other == "before":
            name = "rewardkit-before" + (f" ({before})" if before else "")
            lines.append(
                f"rewardkit / {name} (q/s ratio above 1 and latency ratios below 1: the current code is faster):"
            )
        else:
            lines.append(f"rewardkit / {LABELS[other]} (q/s ratio; latency ratios, below 1 is better for rewardkit):")
        for w, r in ratios[key].items():
            lines.append(
                f"  {w:<8} q/s x{_fmt(r['qps'], '.2f')}, tokens/s x{_fmt(r['tokens_per_s'], '.2f')}, "
                f"mean latency x{_fmt(r['mean_latency'], '.2f')}, p50 x{_fmt(r['p50_latency'], '.2f')}, "
                f"p99 x{_fmt(r['p99_latency'], '.2f')}, peak RSS x{_fmt(r['peak_rss'], '.2f')}"
            )
    lines += format_agreement(agreement or {})
    lines += ["", "targets:"]
    for t in targets:
        verdict = {True: "PASS", False: "FAIL", None: "n/a "}[t["passed"]]
        spec = t.get("spec", ".2f")
        lines.append(f"  [{verdict}] {t['target']}: {_fmt(t['value'], spec)} (needs {t['op']} {t['threshold']})")
    return "\n".join(lines)
