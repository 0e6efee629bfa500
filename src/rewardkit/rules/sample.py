"""What a rule sees of one item: the full text, its prompt, its label and the response alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Sample", "samples_from", "samples_from_conversations"]


@dataclass(frozen=True, slots=True)
class Sample:
    """One scored item as OpenRLHF sends it: ``query`` is prompt + response (template applied),
    ``prompt`` the prompt alone when the caller sent it, ``label`` the ground truth when it did.
    ``response`` is the query with the prompt cut off its front (the whole query when the prompt
    is missing or is not its start), so answer checkers never read numbers from the question."""

    query: str
    prompt: Any = None
    label: Any = None
    answer: str | None = None  # the response when known apart (a conversation's last message)

    @property
    def response(self) -> str:
        if self.answer is not None:
            return self.answer
        if isinstance(self.prompt, str) and self.prompt and self.query.startswith(self.prompt):
            return self.query[len(self.prompt) :]
        return self.query


def samples_from(queries: Sequence[str], prompts: Sequence[Any] | None, labels: Sequence[Any] | None) -> list[Sample]:
    n = len(queries)
    prompts = list(prompts) if prompts is not None else [None] * n
    labels = list(labels) if labels is not None else [None] * n
    return [Sample(q, p, label) for q, p, label in zip(queries, prompts, labels)]


def samples_from_conversations(
    conversations: Sequence[Sequence[dict[str, str]]], labels: Sequence[Any] | None
) -> list[Sample]:
    """A conversation's last message is the response; the messages before it, joined by blank
    lines, the prompt (and ``prompts`` a caller sent are not needed)."""
    labels = list(labels) if labels is not None else [None] * len(conversations)
    samples = []
    for conversation, label in zip(conversations, labels):
        prompt = "\n\n".join(m["content"] for m in conversation[:-1])
        response = conversation[-1]["content"]
        samples.append(Sample(f"{prompt}\n\n{response}" if prompt else response, prompt, label, response))
    return samples
