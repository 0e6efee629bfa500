"""Best-of-N over a pool of prompts with N candidates each: score, select, and the expected curve.

Reads pools (JSONL; what `rewardkit bon generate` and `rewardkit bon pool` write), scores them with a
Scorer, and hands the numbers to `selection.best_of_n`. Knows nothing about how candidates were
generated or how a Scorer reaches its model.

A pool row: ``prompt`` (str), ``instruction`` (str) or ``messages`` (the conversation so far);
``candidates``: a list of strings or of ``{"text", "gold"?, "generator"?}``; optional
``gold_scores`` and ``proxy_scores`` lists, one per candidate.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rewardkit.data.alpaca_eval import alpaca_preference
from rewardkit.data.files import expand_paths, json_rows
from rewardkit.errors import InvalidInputError
from rewardkit.scoring.plans import unique_texts
from rewardkit.scoring.scorer import Scorer
from rewardkit.selection.best_of_n import CurvePoint, best_of_n, default_ns, pool_curve
from rewardkit.templating import validate_context
from rewardkit.types import Conversation, with_answer

__all__ = [
    "BonEvaluation",
    "PoolPrompt",
    "alpaca_eval_pool",
    "evaluate_pool",
    "pool_prompts",
    "read_pool",
    "score_pool",
    "select_best",
    "write_bon_outputs",
]


@dataclass
class PoolPrompt:
    context: Conversation
    candidates: list[str]
    gold: list[float] | None
    proxy: list[float] | None
    row: dict[str, Any]


@dataclass
class BonEvaluation:
    """Curves per series: the scorer's own ("proxy"), then each ensemble member's."""

    curves: dict[str, list[CurvePoint]]
    prompts: int
    candidates: int
    oracle_gold: float | None
    ns: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompts": self.prompts,
            "candidates_per_prompt": self.candidates,
            "oracle_gold": self.oracle_gold,
            "curves": {name: [p.as_dict() for p in points] for name, points in self.curves.items()},
        }


def _context(row: dict[str, Any], where: str) -> Conversation:
    if "messages" in row:
        try:
            return validate_context(row["messages"])
        except InvalidInputError as exc:
            raise InvalidInputError(f"{where}: {exc}") from None
    for key in ("prompt", "instruction"):
        if isinstance(row.get(key), str):
            return [{"role": "user", "content": row[key]}]
    raise InvalidInputError(f"{where}: needs a 'prompt' or 'instruction' string or a 'messages' list")


def _numbers(row: dict[str, Any], key: str, count: int, where: str) -> list[float] | None:
    values = row.get(key)
    if values is None:
        return None
    ok = isinstance(values, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if not ok or len(values) != count or not np.all(np.isfinite(values)):
        raise InvalidInputError(f"{where}: '{key}' must be a list of {count} finite numbers, one per candidate")
    return [float(v) for v in values]


def read_pool(path: str | Path) -> list[PoolPrompt]:
    """Every prompt of a pool file, checked (see ``pool_prompts``)."""
    from rewardkit.data.files import read_rows

    return pool_prompts(read_rows(Path(path)), str(path))


def pool_prompts(rows: Iterable[dict[str, Any]], source: str) -> list[PoolPrompt]:
    """Pool rows (a file's, or ``alpaca_eval_pool``'s) as checked prompts; gold scores come from
    ``gold_scores`` or per-candidate ``gold`` (all candidates of a prompt or none). Errors name
    ``source`` and the row's line (its ``__line__``, else its position)."""
    pool = []
    for number, row in enumerate(rows, start=1):
        where = f"{source}:{row.pop('__line__', number)}"
        context = _context(row, where)
        raw = row.get("candidates")
        if not isinstance(raw, list) or not raw:
            raise InvalidInputError(f"{where}: 'candidates' must be a non-empty list")
        texts, golds = [], []
        for i, candidate in enumerate(raw):
            if isinstance(candidate, dict):
                candidate_text, gold = candidate.get("text"), candidate.get("gold")
            else:
                candidate_text, gold = candidate, None
            if not isinstance(candidate_text, str):
                raise InvalidInputError(f"{where}: candidates[{i}] must be a string or an object with a 'text' string")
            texts.append(candidate_text)
            golds.append(gold)
        gold_list = _numbers(row, "gold_scores", len(texts), where)
        if gold_list is None and any(g is not None for g in golds):
            gold_list = _numbers({"gold": golds}, "gold", len(texts), where)
        proxy = _numbers(row, "proxy_scores", len(texts), where)
        pool.append(PoolPrompt(context=context, candidates=texts, gold=gold_list, proxy=proxy, row=row))
    if not pool:
        raise InvalidInputError(f"{source}: the pool is empty")
    return pool


def score_pool(scorer: Scorer, pool: Sequence[PoolPrompt], *, progress: bool = True) -> dict[str, list[np.ndarray]]:
    """Proxy scores per prompt: ``{"proxy": [...], member: [...]}``. Identical candidate texts of a
    prompt are scored once and share the score, so they tie exactly instead of differing by float noise."""
    if scorer.pairwise:
        raise InvalidInputError(
            "Best-of-N curves need a reward per candidate; this is a pairwise preference model. "
            "Rank candidates with POST /rank or RewardModel.rank instead."
        )
    conversations: list[Conversation] = []
    index: list[list[int]] = []
    for prompt in pool:
        unique, positions = unique_texts(prompt.candidates)
        offset = len(conversations)
        conversations += [with_answer(prompt.context, text) for text in unique]
        index.append([offset + i for i in positions])
    table = scorer.score(conversations, progress=progress)
    series = {"proxy": table.combined, **table.members}
    return {name: [np.asarray(values)[rows] for rows in index] for name, values in series.items()}


def evaluate_pool(
    pool: Sequence[PoolPrompt], scores: dict[str, list[np.ndarray]], ns: Sequence[int] | None = None
) -> BonEvaluation:
    """Expected Best-of-N proxy and gold scores for each n, for every series of scores."""
    has_gold = all(p.gold is not None for p in pool)
    if not has_gold and any(p.gold is not None for p in pool):
        raise InvalidInputError("some prompts have gold scores and some do not; give them to all or none")
    gold = [p.gold for p in pool] if has_gold else None
    smallest = min(len(p.candidates) for p in pool)
    ns = list(ns) if ns else default_ns(smallest)
    if min(ns) < 1:
        raise InvalidInputError(f"every n must be at least 1, got {min(ns)}")
    if max(ns) > smallest:
        raise InvalidInputError(f"n = {max(ns)} is larger than the smallest group of candidates ({smallest})")
    curves = {name: pool_curve(series, gold, ns) for name, series in scores.items()}
    oracle = float(np.mean([max(g) for g in gold])) if gold else None
    return BonEvaluation(curves=curves, prompts=len(pool), candidates=smallest, oracle_gold=oracle, ns=ns)


def select_best(pool: Sequence[PoolPrompt], scores: dict[str, list[np.ndarray]]) -> list[dict[str, Any]]:
    """Each pool row with its proxy scores, the chosen candidate and (with gold) the chosen one's gold."""
    rows = []
    for i, prompt in enumerate(pool):
        pick = best_of_n(scores["proxy"][i])
        row = dict(prompt.row)
        row["proxy_scores"] = [float(s) for s in scores["proxy"][i]]
        members = {name: [float(s) for s in series[i]] for name, series in scores.items() if name != "proxy"}
        if members:
            row["member_scores"] = members
        row["best"] = pick.best
        row["best_candidate"] = prompt.candidates[pick.best]
        if prompt.gold is not None:
            row["best_gold"] = prompt.gold[pick.best]
        rows.append(row)
    return rows


def write_bon_outputs(evaluation: BonEvaluation, out_dir: str | Path) -> list[Path]:
    """``bon_curve.json`` (the scorer's own curve: ``[{"n", "proxy_score", "gold_score", "kl"}]``),
    ``bon_curves.json`` (every series + counts), ``bon_curve.csv`` and ``bon_curve.png``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "bon_curve.json", out / "bon_curves.json", out / "bon_curve.csv", out / "bon_curve.png"]
    paths[0].write_text(json.dumps([p.as_dict() for p in evaluation.curves["proxy"]], indent=2) + "\n")
    paths[1].write_text(json.dumps(evaluation.as_dict(), indent=2) + "\n")
    with open(paths[2], "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["series", "n", "kl", "proxy_score", "gold_score"])
        for name, points in evaluation.curves.items():
            for p in points:
                writer.writerow(
                    [
                        name,
                        p.n,
                        f"{p.kl:.6f}",
                        f"{p.proxy_score:.6f}",
                        "" if p.gold_score is None else f"{p.gold_score:.6f}",
                    ]
                )
    _plot(evaluation, paths[3])
    return paths


def _plot(evaluation: BonEvaluation, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_gold = evaluation.curves["proxy"][0].gold_score is not None
    rows = 2 if has_gold else 1
    fig, axes = plt.subplots(rows, 2, figsize=(11, 4.2 * rows), squeeze=False)
    for name, points in evaluation.curves.items():
        label = "scorer" if name == "proxy" else name
        style = {"linewidth": 2.2} if name == "proxy" else {"linewidth": 1.0, "alpha": 0.7}
        for col, x in enumerate(([p.n for p in points], [p.kl for p in points])):
            axes[0][col].plot(x, [p.proxy_score for p in points], marker="o", label=label, **style)
            if has_gold:
                axes[1][col].plot(x, [p.gold_score for p in points], marker="o", label=label, **style)
    for row in range(rows):
        what = "proxy (reward model) score" if row == 0 else "gold score of the proxy's pick"
        axes[row][0].set_xscale("log", base=2)
        axes[row][0].set_xlabel("n (candidates drawn)")
        axes[row][1].set_xlabel("KL = log n - (n-1)/n  (nats)")
        for col in range(2):
            axes[row][col].set_ylabel(what)
            axes[row][col].grid(alpha=0.3)
    if has_gold and evaluation.oracle_gold is not None:
        for col in range(2):
            axes[1][col].axhline(evaluation.oracle_gold, color="grey", linestyle=":", label="oracle (best gold)")
    axes[0][0].legend(fontsize=8)
    if has_gold:
        axes[1][0].legend(fontsize=8)
    fig.suptitle(f"Best-of-N, unbiased estimate over {evaluation.prompts} prompts x {evaluation.candidates} candidates")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def alpaca_eval_pool(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """A Best-of-N pool from AlpacaEval annotation files: per instruction, the reference answer
    (gold 0.5: it is compared with itself) and each generator's answer (gold = P(it beats the
    reference) = preference - 1). Instructions missing from some generator's file are left out."""
    by_instruction: dict[str, dict[str, Any]] = {}
    generators: list[str] = []
    keys = ("instruction", "output_1", "output_2", "generator_2", "preference")
    for file in expand_paths(paths):
        file_generators = set()
        for where, row in json_rows(file):
            if any(k not in row for k in keys):
                raise InvalidInputError(f"{where}: an AlpacaEval annotation needs {', '.join(keys)}")
            try:
                preference, _ = alpaca_preference(row["preference"])
            except InvalidInputError as exc:
                raise InvalidInputError(f"{where}: {exc}") from None
            if preference is None:
                continue
            gold = preference - 1.0
            entry = by_instruction.setdefault(
                row["instruction"],
                {
                    "instruction": row["instruction"],
                    "dataset": row.get("dataset"),
                    "candidates": {f"{row.get('generator_1', 'reference')} (reference)": (row["output_1"], 0.5)},
                },
            )
            entry["candidates"][row["generator_2"]] = (row["output_2"], gold)
            file_generators.add(row["generator_2"])
        generators += sorted(file_generators - set(generators))
    pool = []
    for entry in by_instruction.values():
        if not all(g in entry["candidates"] for g in generators):
            continue
        pool.append(
            {
                "instruction": entry["instruction"],
                "dataset": entry["dataset"],
                "candidates": [
                    {"text": text, "gold": gold, "generator": name}
                    for name, (text, gold) in entry["candidates"].items()
                ],
            }
        )
    return pool
