"""`rewardkit score`: one JSONL file in, the same rows with a score out, in order.

Each line holds one of: ``{"text": str}``, ``{"query": str}`` (OpenRLHF style) or
``{"messages": [{"role", "content"}, ...]}``. The rows are encoded by the model's scoring core
(the same checks and templating as the server), scored length-sorted by RewardModel, and written
at the end through an atomic write: the whole file is held in memory.
"""

from __future__ import annotations

from pathlib import Path

from rewardkit.data.files import read_rows, write_rows
from rewardkit.data.rows import row_input
from rewardkit.scoring.model import RewardModel
from rewardkit.scoring.steps import ScoreConversations, ScoreTexts

__all__ = ["score_file"]


def score_file(model: RewardModel, source: Path, target: Path, *, progress: bool = True) -> int:
    """Score every row of ``source`` into ``target``; returns the number of rows written."""
    rows = read_rows(source)
    items = []
    for row in rows:
        value = row_input(row, f"{source}:{row['__line__']}")
        step = ScoreTexts([value]) if isinstance(value, str) else ScoreConversations([value])
        items += model.core.encode(step)
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
