"""`rewardkit score URL ...`: the bulk loop's chunks scored by a running rewardkit server.

A ChunkScorer (see `bulk.score_table_with`) over the HTTP Client, so a table scored through a server
has the local run's progress record, manifest, error file and resume. A row's text or conversation is
read from its columns here exactly as the local backend reads it; the server templates, truncates and
scores it with its own settings, which `/info` reports and the run records as its identity (a server
that now serves another model, length limit or template is refused on resume, like a changed
checkpoint). Knows no torch: the model stays in the server.
"""

from __future__ import annotations

import hashlib
import platform
from dataclasses import asdict
from typing import Any

from rewardkit._version import __version__
from rewardkit.client import Client
from rewardkit.errors import InvalidInputError, ServerResponseError
from rewardkit.scoring.bulk import Columns, ModelFacts, Outcome, Row
from rewardkit.types import Conversation, ScoreResult

__all__ = ["ServerScorer"]

REQUEST_ITEMS = 256
"""Rows sent in one request (a server refuses more than its --max-items-per-request, 4096 by default)."""

IDENTITY = ("path", "format", "architecture", "head", "max_length", "normalized", "objective", "recipe", "members")
"""The /info facts that change what a row's score means; the rest (device, packing, ...) only how it is computed."""


class ServerScorer:
    """Scores chunks through ``url``. A request refused as a whole for bad input (4xx) is sent again
    row by row, so that each bad row gets its own error (stopped at, or skipped with --on-error skip)."""

    backend = "server"
    in_flight = 1

    def __init__(self, url: str, columns: Columns, *, api_key: str | None = None) -> None:
        self.client = Client(url, api_key=api_key)
        self.url, self.columns = url, columns
        self.facts = self.client.info()

    def describe(self) -> ModelFacts:
        info = self.facts
        identity = {key: info.get(key) for key in IDENTITY if key in info}
        return ModelFacts(
            model={"server": self.url, **identity},
            settings={
                "columns": asdict(self.columns),
                "dtype": info.get("dtype"),
                "max_length": info.get("max_length"),
                "template": hashlib.sha256(str(info.get("template", "")).encode()).hexdigest()[:16],
            },
            manifest={
                "format": info.get("format"),
                "template": info.get("template"),
                "dtype": info.get("dtype"),
                "device": info.get("device"),
                "versions": {
                    "rewardkit": __version__,
                    "server_rewardkit": info.get("rewardkit_version"),
                    "python": platform.python_version(),
                },
            },
            objectives=bool(info.get("outputs")),
            steps=bool(info.get("steps")),
        )

    def submit(self, rows: list[Row]) -> Any:
        return rows

    def result(self, handle: Any) -> list[Outcome]:
        outcomes: list[Outcome | None] = []
        texts: dict[int, str] = {}
        conversations: dict[int, Conversation] = {}
        for position, row in enumerate(handle):
            if isinstance(row, InvalidInputError):
                outcomes.append(row)
                continue
            try:
                value = self.columns.value(row)
            except InvalidInputError as exc:
                outcomes.append(exc)
                continue
            outcomes.append(None)
            (texts if isinstance(value, str) else conversations)[position] = value  # type: ignore[index]
        for group in (texts, conversations):
            positions = list(group)
            for start in range(0, len(positions), REQUEST_ITEMS):
                part = positions[start : start + REQUEST_ITEMS]
                for position, outcome in zip(part, self._score([group[p] for p in part])):
                    outcomes[position] = outcome
        return outcomes  # type: ignore[return-value]

    def _score(self, values: list[Any]) -> list[ScoreResult | InvalidInputError]:
        try:
            return list(self.client.score_results(values))
        except ServerResponseError as exc:
            if not _bad_input(exc) or len(values) == 1:
                if _bad_input(exc):
                    return [InvalidInputError(f"the server refused it: {exc}")]
                raise
        return [outcome for value in values for outcome in self._score([value])]

    def close(self) -> None:
        self.client.close()


def _bad_input(exc: ServerResponseError) -> bool:
    """A refusal of what was sent (400, 413, 422), not of the call (401, 404, 429, 5xx)."""
    return exc.status_code in (400, 413, 422)
