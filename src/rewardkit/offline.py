"""`rewardkit score`: one JSONL file in, the same rows with a score out, in order.

Each line holds one of: ``{"text": str}``, ``{"query": str}`` (OpenRLHF style) or
``{"messages": [{"role", "content"}, ...]}``. Bulk, resumable and cluster scoring have their own module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rewardkit.data.files import read_rows, write_rows
from rewardkit.data.rows import row_input
from rewardkit.model import RewardModel
from rewardkit.service import pairwise_only
from rewardkit.types import TokenizedItem

__all__ = ["score_file"]


def _encode(model: RewardModel, row: dict[str, Any], path: Path) -> TokenizedItem:
    value = row_input(row, f"{path}:{row['__line__']}")
    if isinstance(value, str):
        return model.templater.encode_texts([value])[0]
    return model.templater.encode_conversations([value])[0]


def score_file(model: RewardModel, source: Path, target: Path, *, progress: bool = True) -> int:
    """Score every row of ``source`` into ``target``; returns the number of rows written."""
    pairwise_only(model.model)
    rows = read_rows(source)
    items = [_encode(model, row, source) for row in rows]
    results = model.score_items(items, progress=progress)
    for row, result in zip(rows, results):
        row.pop("__line__")
        row["score"] = result.score
        if result.truncated:
            row["truncated"] = True
        if result.objectives:
            row["objectives"] = result.objectives
        if result.steps is not None:
            row["steps"] = list(result.steps)
    write_rows(target, rows)
    return len(rows)
