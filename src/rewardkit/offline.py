"""`rewardkit score`: one JSONL file in, the same rows with a score out, in order.

Each line holds one of: ``{"text": str}``, ``{"query": str}`` (OpenRLHF style) or
``{"messages": [{"role", "content"}, ...]}``. Bulk, resumable and cluster scoring have their own module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rewardkit.errors import InvalidInputError
from rewardkit.scoring.core import pairwise_only
from rewardkit.scoring.model import RewardModel
from rewardkit.templating import validate_conversation
from rewardkit.types import Conversation, TokenizedItem

__all__ = ["read_rows", "row_input", "score_file", "write_rows"]


def read_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise InvalidInputError(f"{path}:{number}: expected a JSON object per line")
            row["__line__"] = number
            rows.append(row)
    return rows


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write JSONL through a .partial file, so an interrupted write never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


def row_input(row: dict[str, Any], where: str) -> str | Conversation:
    """What one row asks to score: a full text (``text`` or ``query``) or a checked conversation."""
    try:
        if "messages" in row:
            return validate_conversation(row["messages"])
        text = row.get("text", row.get("query"))
        if not isinstance(text, str):
            raise InvalidInputError("needs a string 'text' (or 'query') or a 'messages' list")
        return text
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None


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
