"""What a rule sees of one item: the full text, its prompt, its label and the response alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Sample", "samples_from"]


@dataclass(frozen=True, slots=True)
class Sample:
    """One scored item as OpenRLHF sends it: ``query`` is prompt + response (template applied),
    ``prompt`` the prompt alone when the caller sent it, ``label`` the ground truth when it did.
    ``response`` is the query with the prompt cut off its front (the whole query when the prompt
    is missing or is not its start), so answer checkers never read numbers from the question."""

    query: str
    prompt: Any = None
    label: Any = None

    @property
    def response(self) -> str:
        if isinstance(self.prompt, str) and self.prompt and self.query.startswith(self.prompt):
            return self.query[len(self.prompt) :]
        return self.query


def samples_from(queries: Sequence[str], prompts: Sequence[Any] | None, labels: Sequence[Any] | None) -> list[Sample]:
    n = len(queries)
    prompts = list(prompts) if prompts is not None else [None] * n
    labels = list(labels) if labels is not None else [None] * n
    return [Sample(q, p, label) for q, p, label in zip(queries, prompts, labels)]
