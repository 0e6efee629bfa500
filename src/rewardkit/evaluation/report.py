"""Evaluation reports on disk: report.json (everything), report.md (tables to read) and a PNG plot.

Knows the report dataclasses and nothing about how their numbers were computed. matplotlib is
imported inside the plotting functions, with the Agg backend (no display needed).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from rewardkit.evaluation.mc import McReport
from rewardkit.evaluation.metrics import PairMetrics
from rewardkit.evaluation.pairs import PairsReport
from rewardkit.evaluation.rewardbench2 import TIES_WEIGHTS, Rb2Report
from rewardkit.evaluation.rm_bench import RmBenchReport

__all__ = ["write_report"]

Report = PairsReport | McReport | Rb2Report | RmBenchReport


def write_report(report: Report, out_dir: str | Path) -> list[Path]:
    """Write report.json, report.md and the plot into ``out_dir``; returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "report.json", out / "report.md"]
    paths[0].write_text(json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if isinstance(report, PairsReport):
        paths[1].write_text(_pairs_markdown(report), encoding="utf-8")
        paths.append(_plot_pairs(report, out / "accuracy.png"))
    elif isinstance(report, McReport):
        paths[1].write_text(_mc_markdown(report), encoding="utf-8")
        paths.append(_plot_mc(report, out / "ranks.png"))
    elif isinstance(report, Rb2Report):
        paths[1].write_text(_rb2_markdown(report), encoding="utf-8")
        paths.append(_plot_rb2(report, out / "rewardbench2.png"))
    else:
        paths[1].write_text(_rm_bench_markdown(report), encoding="utf-8")
        paths.append(_plot_rm_bench(report, out / "rm_bench.png"))
    return paths


# ----------------------------------------------------------------------------------------- markdown


def _pct(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.1f}%"


def _num(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _data_section(files: list[str], skipped: dict[str, int], notes: dict[str, int]) -> list[str]:
    if not (files or skipped or notes):
        return []
    lines = ["", "## Data", ""]
    lines += [f"- file: `{f}`" for f in files]
    lines += [f"- skipped {count} rows: {reason}" for reason, count in sorted(skipped.items())]
    lines += [f"- {count} times: {note}" for note, count in sorted(notes.items())]
    return lines


def _pairs_markdown(report: PairsReport) -> str:
    members = list(report.members)
    header = ["subset", "n", "accuracy", "95% CI", "margin", "ties"]
    header += ["accuracy (label != 0.5)"] if report.soft_labels else []
    header += [f"{m} accuracy" for m in members]
    names = ["overall", *report.combined.subsets]

    def metrics_of(results, name: str) -> PairMetrics:
        return results.overall if name == "overall" else results.subsets[name]

    rows = []
    for name in names:
        m = metrics_of(report.combined, name)
        row = [f"**{name}**" if name == "overall" else name, str(m.n), _pct(m.accuracy)]
        row += [f"{_pct(m.ci_low)} - {_pct(m.ci_high)}", _num(m.mean_margin), str(m.ties)]
        row += [f"{_pct(m.hard_accuracy)} (n={m.hard_n})"] if report.soft_labels else []
        row += [_pct(metrics_of(report.members[member], name).accuracy) for member in members]
        rows.append(row)
    kind = "pairwise preference model" if report.pairwise else "reward model"
    lines = [
        f"# Preference pairs: {report.scorer}",
        "",
        f"Scored as a {kind}. Accuracy is agreement with the labels; a tie (equal scores) counts as wrong. "
        "The interval is a 95% Wilson score interval. Margin = score of the labelled-better response minus "
        "the other's.",
    ]
    if report.soft_labels:
        lines.append(
            "Labels are soft: each pair counts P(label favours the side the model prefers), and the interval "
            "is conservative for such values. The hard column counts only pairs whose label is not 0.5."
        )
    lines += ["", *_table(header, rows)]
    sections = report.combined.rewardbench
    if sections is not None:
        section_rows = []
        for section in [*sections.sections, "overall"]:
            row = [f"**{section}**" if section == "overall" else section]
            for results in [report.combined, *report.members.values()]:
                s = results.rewardbench
                row.append(_pct(s.overall if section == "overall" else s.sections[section]) if s else "n/a")
            section_rows.append(row)
        lines += ["", "## RewardBench sections", ""]
        lines += ["Example-count-weighted mean over the subsets present; math-prm weighs as much as the hep-* "]
        lines += ["subsets together; overall is the mean of the sections.", ""]
        lines += _table(["section", report.scorer, *members], section_rows)
        if sections.unmatched:
            lines += ["", "Not RewardBench subsets (left out of the sections): " + ", ".join(sections.unmatched)]
    if report.by_generator:
        gen_rows = [
            [g, str(m.n), _pct(m.accuracy), f"{_pct(m.ci_low)} - {_pct(m.ci_high)}"]
            for g, m in report.by_generator.items()
        ]
        lines += ["", "## By the model that wrote the second response", ""]
        lines += _table(["generator", "n", "accuracy", "95% CI"], gen_rows)
    lines += _data_section(report.files, report.skipped, report.notes)
    return "\n".join(lines) + "\n"


def _mc_markdown(report: McReport) -> str:
    members = list(report.members)
    header = ["subset", "n", "top-1", "95% CI", "chance", "mean rank", "choices", "gap", "correct score"]
    header += ["best score", *[f"{m} top-1" for m in members]]
    rows = []
    for name in ["overall", *report.combined.subsets]:
        m = report.combined.overall if name == "overall" else report.combined.subsets[name]
        row = [f"**{name}**" if name == "overall" else name, str(m.n), _pct(m.top1)]
        row += [f"{_pct(m.ci_low)} - {_pct(m.ci_high)}", _pct(m.chance_top1), f"{m.mean_rank:.2f}"]
        row += [f"{m.mean_choices:.1f}", _num(m.mean_gap), _num(m.mean_correct_score), _num(m.mean_best_score)]
        for member in members:
            r = report.members[member]
            row.append(_pct((r.overall if name == "overall" else r.subsets[name]).top1))
        rows.append(row)
    lines = [
        f"# Multiple choice: {report.scorer}",
        "",
        "Top-1: the correct answer scores strictly above every incorrect one (95% Wilson interval); chance is "
        "what a random pick gets. Rank 1 is best and a tie ranks the correct answer below. Gap = best score "
        "minus the correct answer's score (0 when it is best).",
    ]
    if report.pairwise:
        lines.append(
            "Pairwise model: the correct answer scores 0.5 and each incorrect one 1 - P(correct better), so "
            "the score columns are relative to 0.5."
        )
    lines += ["", *_table(header, rows), *_data_section(report.files, report.skipped, report.notes)]
    return "\n".join(lines) + "\n"


def _length_note(unit: str, truncated: int) -> str:
    note = f"Longer answer: the length baseline on the same rows, each answer's score its length in {unit}"
    if unit == "tokens":
        note += " (the conversation's token count under the model's tokenizer and template; the prompt is shared)"
    if truncated:
        note += f"; {truncated} answers were truncated to the model's limit, and count at their cut length"
    return note + "."


def _rb2_markdown(report: Rb2Report) -> str:
    members = list(report.members)
    columns = [report.combined, *report.members.values(), report.length]
    header = ["subset", "rows", report.scorer, *members, "longer answer"]
    rows = [["**score**", str(sum(report.counts.values())), *[f"**{_pct(r.score)}**" for r in columns]]]
    rows += [[name, str(n), *[_pct(r.subsets[name]) for r in columns]] for name, n in report.counts.items()]
    lines = [
        f"# RewardBench 2: {report.scorer}",
        "",
        "Scored as the authors' code scores it (allenai/reward-bench, scripts/run_v2.py): each answer is scored "
        "on its own; a row scores 1/k when its first correct answer is among the k answers at the top score, "
        "else 0; a subset is the mean of its rows, except Ties (its own weighted formula, below); the score is "
        "the unweighted mean of the subsets.",
        _length_note(report.length_unit, report.truncated),
        "",
        *_table(header, rows),
    ]
    if report.combined.ties is not None:
        parts = [*TIES_WEIGHTS, "ref_prompts", "tied_prompts", "paired_prompts"]
        ties_rows = []
        for part in parts:
            weight = f"{TIES_WEIGHTS[part]:.2f}" if part in TIES_WEIGHTS else ""
            values = [getattr(r.ties, part) if r.ties else None for r in columns]
            shown = [str(v) if isinstance(v, int) else _num(math.nan if v is None else v) for v in values]
            ties_rows.append([part.replace("_", " "), weight, *shown])
        lines += ["", "## Ties", ""]
        lines.append(
            "Score = the weighted sum of the parts (the preferred and margin parts over the prompts that have both "
            "a ref and a tied row); its small tanh term can take it a little outside 0-100%, and it is not clamped."
        )
        lines.append("")
        lines += _table(["part", "weight", report.scorer, *members, "longer answer"], ties_rows)
    lines += _benchmark_data(report.files, report.answers)
    return "\n".join(lines) + "\n"


def _rm_bench_markdown(report: RmBenchReport) -> str:
    members = list(report.members)
    header = ["domain", "rows", "hard", "normal", "easy", "score", *[f"{m} score" for m in members]]
    header += [f"longer answer: {level}" for level in ("hard", "normal", "easy", "score")]

    def figures(results, name):
        return results if name == "overall" else results.domains[name]

    rows = []
    for name in [*report.counts, "overall"]:
        mine, length = figures(report.combined, name), figures(report.length, name)
        n = sum(report.counts.values()) if name == "overall" else report.counts[name]
        row = [f"**{name}**" if name == "overall" else name, str(n)]
        row += [_pct(v) for v in (mine.hard, mine.normal, mine.easy, mine.score)]
        row += [_pct(figures(report.members[m], name).score) for m in members]
        row += [_pct(v) for v in (length.hard, length.normal, length.easy, length.score)]
        rows.append(row)
    lines = [
        f"# RM-Bench: {report.scorer}",
        "",
        "Scored as the authors' code scores it (THU-KEG/RM-Bench, scripts/utils.py compute_accuracy): per "
        "domain, M[i][j] = the share of rows whose chosen answer i scores strictly above rejected answer j "
        "(answers 1-3: concise, detailed, detailed in Markdown; a tie is a loss). Hard = the upper triangle "
        "(a plainer correct answer against a fancier wrong one) / 3, normal = the diagonal's mean, easy = the "
        "lower triangle / 3; a domain's score is their mean. Overall figures are unweighted means over the "
        "domains present.",
        _length_note(report.length_unit, report.truncated),
        "",
        *_table(header, rows),
        "",
        "## Matrices",
        "",
        f"{report.scorer}: rows are the chosen answer's style, columns the rejected answer's.",
    ]
    styles = ["concise", "detailed", "markdown"]
    for name, domain in report.combined.domains.items():
        matrix = [[styles[i], *[_pct(v) for v in domain.matrix[i]]] for i in range(len(styles))]
        lines += ["", f"**{name}**", "", *_table(["chosen vs rejected", *styles], matrix)]
    lines += _benchmark_data(report.files, report.answers)
    return "\n".join(lines) + "\n"


def _benchmark_data(files: list[str], answers: int) -> list[str]:
    return ["", "## Data", "", *[f"- `{f}`" for f in files], f"- {answers} answers scored"]


# -------------------------------------------------------------------------------------------- plots


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_pairs(report: PairsReport, path: Path) -> Path:
    plt = _pyplot()
    names = ["overall", *report.combined.subsets]
    models = {report.scorer: report.combined, **report.members}
    height = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(8, 1.5 + 0.3 * len(names) * max(1, len(models) / 2)))
    for k, (label, results) in enumerate(models.items()):
        metrics = [results.overall if n == "overall" else results.subsets[n] for n in names]
        y = [i + (k - (len(models) - 1) / 2) * height for i in range(len(names))]
        acc = [m.accuracy for m in metrics]
        err = [[a - m.ci_low for a, m in zip(acc, metrics)], [m.ci_high - a for a, m in zip(acc, metrics)]]
        ax.barh(y, acc, height=height, xerr=err, capsize=2, label=label)
    ax.axvline(0.5, color="grey", linestyle="--", linewidth=1, label="chance (50%)")
    counts = [report.combined.overall.n, *(m.n for m in report.combined.subsets.values())]
    ax.set_yticks(range(len(names)), [f"{name} (n={n})" for name, n in zip(names, counts)])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("accuracy: agreement with the preference labels (ties count as wrong)")
    ax.set_title(f"{report.scorer}: preference accuracy per subset, 95% Wilson intervals")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _plot_mc(report: McReport, path: Path) -> Path:
    plt = _pyplot()
    overall = report.combined.overall
    names = ["overall", *report.combined.subsets]
    metrics = [overall if n == "overall" else report.combined.subsets[n] for n in names]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 2 + 0.25 * len(names)))
    left.bar(range(1, len(overall.rank_counts) + 1), overall.rank_counts)
    left.set_xticks(range(1, len(overall.rank_counts) + 1))
    left.set_xlabel("rank of the correct answer (1 = above every incorrect one)")
    left.set_ylabel("questions")
    left.set_title(f"{report.scorer}: where the correct answer ranks (n={overall.n})")
    right.barh(range(len(names)), [m.top1 for m in metrics], label="top-1 rate")
    right.scatter([m.chance_top1 for m in metrics], range(len(names)), color="black", marker="|", s=200, label="chance")
    right.set_yticks(range(len(names)), names)
    right.invert_yaxis()
    right.set_xlim(0, 1)
    right.set_xlabel("fraction of questions with the correct answer scored highest")
    right.set_title("top-1 rate against random choice")
    right.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _bars(ax, names: list[str], series: dict[str, list[float]], xlabel: str) -> None:
    """Horizontal grouped bars: one group per name, one bar per series."""
    height = 0.8 / len(series)
    for k, (label, values) in enumerate(series.items()):
        y = [i + (k - (len(series) - 1) / 2) * height for i in range(len(names))]
        ax.barh(y, [0.0 if math.isnan(v) else v for v in values], height=height, label=label)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.02)
    ax.set_xlabel(xlabel)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")


def _plot_rb2(report: Rb2Report, path: Path) -> Path:
    plt = _pyplot()
    names = ["score", *report.counts]
    models = {report.scorer: report.combined, **report.members, f"longer answer ({report.length_unit})": report.length}
    series = {label: [r.score, *(r.subsets[n] for n in report.counts)] for label, r in models.items()}
    fig, ax = plt.subplots(figsize=(8, 1.5 + 0.3 * len(names) * max(1, len(models) / 2)))
    labels = [f"{n} (n={report.counts[n]})" if n in report.counts else n for n in names]
    _bars(ax, labels, series, "RewardBench 2 score (a row: 1/k when the first correct answer ties k at the top)")
    ax.set_title(f"{report.scorer}: RewardBench 2 per subset")
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _plot_rm_bench(report: RmBenchReport, path: Path) -> Path:
    plt = _pyplot()
    names = [*report.counts, "overall"]
    labels = [f"{n} (n={report.counts[n]})" if n in report.counts else n for n in names]
    figures = [report.combined if n == "overall" else report.combined.domains[n] for n in names]
    levels = {level: [getattr(f, level) for f in figures] for level in ("hard", "normal", "easy", "score")}
    models = {report.scorer: report.combined, **report.members, f"longer answer ({report.length_unit})": report.length}
    scores = {label: [r.score if n == "overall" else r.domains[n].score for n in names] for label, r in models.items()}
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 2 + 0.35 * len(names) * 2))
    _bars(left, labels, levels, "accuracy")
    left.set_title(f"{report.scorer}: RM-Bench hard / normal / easy")
    _bars(right, labels, scores, "score (mean of hard, normal and easy)")
    right.set_title(
        "against the ensemble members and the length baseline" if report.members else "against the length baseline"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
