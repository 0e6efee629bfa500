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
"""

from __future__ import annotations

import statistics
from typing import Any

__all__ = ["LABELS", "METRICS", "compute_ratios", "evaluate_targets", "format_report", "median_runs"]

LABELS = {
    "rewardkit": "rewardkit",
    "rewardkit-before": "rewardkit-before",
    "openrlhf": "openrlhf-style",
    "batched": "batched-style",
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
)


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
    if "rewardkit-before" in results:
        ratios["rewardkit_vs_before"] = _versus(results, "rewardkit-before", workloads)
    return ratios


def _versus(results: dict[str, dict[str, dict[str, Any]]], other: str, workloads: list[str]) -> dict[str, Any]:
    """rewardkit's q/s and latencies divided by ``other``'s, per workload."""
    return {
        w: {
            "qps": _ratio(_get(results, "rewardkit", w, "queries_per_s"), _get(results, other, w, "queries_per_s")),
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
) -> list[dict[str, Any]]:
    """The issue's targets (all against the openrlhf-style server and the padded limit; the batched-style
    ratios are in the table); a target whose inputs were not measured is reported as not evaluated (None).
    ``results`` gives the server's CPU share during online; ``score_differences`` the largest
    |rewardkit - openrlhf-style| score per workload (comparable when rewardkit runs with --append-eos)."""
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
    return out


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_report(
    results: dict[str, dict[str, dict[str, Any]]],
    ratios: dict[str, Any],
    targets: list[dict[str, Any]],
    workloads: list[str],
    before: str | None = None,
) -> str:
    """The table, the ratios and the targets; ``before`` names the revision rewardkit-before ran, if any."""
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
    lines += ["", "queries/s as a fraction of the no-server limit:"]
    for server, per_workload in ratios["qps_vs_limit"].items():
        parts = ", ".join(f"{w} {_fmt(v, '.2f')}" for w, v in per_workload.items())
        lines.append(f"  {LABELS[server]:<16} {parts}")
    for other in ("openrlhf", "batched", "before"):
        key = f"rewardkit_vs_{other}"
        if key not in ratios:
            continue
        if other == "before":
            name = "rewardkit-before" + (f" ({before})" if before else "")
            lines.append(
                f"rewardkit / {name} (q/s ratio above 1 and latency ratios below 1: the current code is faster):"
            )
        else:
            lines.append(f"rewardkit / {LABELS[other]} (q/s ratio; latency ratios, below 1 is better for rewardkit):")
        for w, r in ratios[key].items():
            lines.append(
                f"  {w:<8} q/s x{_fmt(r['qps'], '.2f')}, mean latency x{_fmt(r['mean_latency'], '.2f')}, "
                f"p50 x{_fmt(r['p50_latency'], '.2f')}, p99 x{_fmt(r['p99_latency'], '.2f')}"
            )
    lines += ["", "targets:"]
    for t in targets:
        verdict = {True: "PASS", False: "FAIL", None: "n/a "}[t["passed"]]
        spec = t.get("spec", ".2f")
        lines.append(f"  [{verdict}] {t['target']}: {_fmt(t['value'], spec)} (needs {t['op']} {t['threshold']})")
    return "\n".join(lines)
