"""Request and response bodies. Validation here is the caller's side: failures are 4xx."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, field_validator, model_validator

__all__ = [
    "BestOfNRequest",
    "BestOfNResponse",
    "CompareRequest",
    "CompareResponse",
    "GetRewardRequest",
    "GetRewardResponse",
    "Message",
    "RankRequest",
    "RankResponse",
    "ScoreBatchResponse",
    "ScoreRequest",
    "ScoreResponse",
    "Text",
]


SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(text: str) -> str:
    """JSON may escape a lone UTF-16 surrogate (``"\\ud800"``); no tokenizer can read one. Searched
    for, not encoded: a copy of a 50 MB text would double what the request holds."""
    found = None if text.isascii() else SURROGATE.search(text)
    if found:
        raise ValueError(
            f"not valid Unicode: a lone surrogate {found.group()!r} at character {found.start()}; "
            "send UTF-8 text (pair surrogates, or drop the broken character)"
        )
    return text


Text = Annotated[StrictStr, AfterValidator(_encodable)]
"""A string field of a request: strict (no coercion) and valid Unicode."""


class GetRewardRequest(BaseModel):
    """OpenRLHF's remote reward call. Extra fields that newer clients send are accepted and ignored.
    ``conversations`` may stand in for ``query`` (rewardkit's addition): the model's chat template is
    applied here, and reward functions see the last message as the response."""

    model_config = ConfigDict(extra="allow")

    query: list[Text] | None = Field(
        None,
        description="Full texts to score (prompt + response, template applied). An empty list gets empty answers "
        "(OpenRLHF sends its extra servers empty shards).",
    )
    conversations: list[list[Message]] | None = Field(
        None, description="Instead of 'query': conversations ending with the response to score."
    )
    prompts: list[Any] | None = Field(
        None, description="Optional, one per query: the prompt part of each query (reward functions read it)."
    )
    labels: list[Any] | None = Field(
        None, description="Optional, one per query: the ground truth (reward functions such as 'math' read it)."
    )
    objective: Text | None = Field(None, description="Multi-output models: which output is the reward.")

    @field_validator("query", mode="before")
    @classmethod
    def _single_string(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @property
    def count(self) -> int:
        return len(self.query if self.query is not None else self.conversations or [])

    def item_sizes(self) -> list[int]:
        """Characters per scored item (the limits are checked on these before any tokenizing)."""
        if self.query is not None:
            return [len(q) for q in self.query]
        return [sum(len(m.content) for m in c) for c in self.conversations or []]

    def as_conversations(self) -> list[list[dict[str, str]]] | None:
        return None if self.conversations is None else [[m.model_dump() for m in c] for c in self.conversations]

    @model_validator(mode="after")
    def _same_lengths(self) -> GetRewardRequest:
        if (self.query is None) == (self.conversations is None):
            raise ValueError("send 'query' (a list of full texts) or 'conversations' (a list of conversations)")
        if self.conversations is not None and any(not c for c in self.conversations):
            raise ValueError("'conversations' holds an empty conversation; each needs at least the response")
        what = "query" if self.query is not None else "conversations"
        for name in ("prompts", "labels"):
            values = getattr(self, name)
            if values is not None and len(values) != self.count:
                raise ValueError(f"'{name}' has {len(values)} items but '{what}' has {self.count}; send one per {what}")
        return self


class GetRewardResponse(BaseModel):
    rewards: list[float]
    scores: list[float]
    extra_logs: dict[str, list[float]] = Field(
        description="One value per query: num_tokens, truncated, each objective of a multi-output model, num_steps; "
        "with reward functions, 'model' and each function's reward under its name."
    )
    step_scores: list[list[float]] | None = Field(None, description="Process reward models: per-step scores.")
    model_rewards: list[float] | None = Field(
        None, description="With reward functions served: the model's own rewards (what an ensemble member contributes)."
    )


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Text
    content: Text


class ScoreRequest(BaseModel):
    """One conversation (``messages``), several (``conversations``), or full texts (``texts``)."""

    messages: list[Message] | None = Field(None, min_length=1)
    conversations: list[list[Message]] | None = None
    texts: list[Text] | None = Field(
        None, description="Instead of conversations: full texts (chat template already applied), scored as sent."
    )
    labels: list[Any] | None = Field(
        None,
        description="With reward functions served (--reward-fn): one ground truth per item, as /get_reward's "
        "'labels' (one item for 'messages').",
    )
    objective: Text | None = Field(None, description="Multi-output models: which output is the reward.")

    @model_validator(mode="after")
    def _exactly_one(self) -> ScoreRequest:
        if sum(x is not None for x in (self.messages, self.conversations, self.texts)) != 1:
            raise ValueError(
                "send exactly one of 'messages' (one conversation), 'conversations' (a list of them) or "
                "'texts' (a list of full texts)"
            )
        if self.labels is not None and len(self.labels) != self.count:
            raise ValueError(f"'labels' has {len(self.labels)} items for {self.count} to score; send one per item")
        return self

    @property
    def count(self) -> int:
        return len(self.texts) if self.texts is not None else len(self._groups())

    def _groups(self) -> list[list[Message]]:
        return [self.messages] if self.messages is not None else list(self.conversations or [])

    def item_sizes(self) -> list[int]:
        if self.texts is not None:
            return [len(t) for t in self.texts]
        return [sum(len(m.content) for m in group) for group in self._groups()]

    def as_conversations(self) -> list[list[dict[str, str]]] | None:
        """The conversations to score, or None when full texts were sent."""
        return None if self.texts is not None else [[m.model_dump() for m in group] for group in self._groups()]


class ScoreResponse(BaseModel):
    score: float = Field(description="The reward: the model's, or with --reward-fn the weighted sum of all parts.")
    num_tokens: int
    truncated: bool
    objectives: dict[str, float] | None = None
    steps: list[float] | None = None
    members: dict[str, float] | None = None
    model_score: float | None = Field(None, description="With --reward-fn: the model's own reward.")
    rule_scores: dict[str, float] | None = Field(None, description="With --reward-fn: each function's reward.")


class ScoreBatchResponse(BaseModel):
    scores: list[float] = Field(description="The rewards: the model's, or with --reward-fn the weighted sums.")
    num_tokens: list[int]
    truncated: list[bool]
    objectives: list[dict[str, float]] | None = None
    steps: list[list[float]] | None = None
    members: list[dict[str, float]] | None = None
    model_scores: list[float] | None = Field(None, description="With --reward-fn: the model's own rewards.")
    rule_scores: dict[str, list[float]] | None = Field(None, description="With --reward-fn: each function's rewards.")


class _Context(BaseModel):
    """A context: ``prompt`` or ``messages`` (the conversation before the responses)."""

    model_config = ConfigDict(extra="forbid")

    prompt: Text | None = None
    messages: list[Message] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_context(self) -> _Context:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("send exactly one of 'prompt' (a string) or 'messages' (the conversation so far)")
        return self

    def context_size(self) -> int:
        return len(self.prompt) if self.prompt is not None else sum(len(m.content) for m in self.messages or [])

    def context(self) -> dict[str, Any]:
        if self.prompt is not None:
            return {"prompt": self.prompt}
        return {"messages": [m.model_dump() for m in self.messages or []]}


class CompareRequest(_Context):
    responses: list[Text] = Field(..., min_length=2, max_length=2, description="Exactly two responses.")

    def item_sizes(self) -> list[int]:
        return [self.context_size() + len(r) for r in self.responses]


class CompareResponse(BaseModel):
    probability: float = Field(description="P(responses[0] is better than responses[1]).")
    winner: int = Field(description="0 or 1; 0 on an exact tie.")
    orders: list[float] | None = Field(
        None, description="Pairwise models: P(first shown is better) with responses[0] first, then responses[1] first."
    )
    scores: list[float] | None = Field(None, description="Pointwise models: the two rewards.")


class _Candidates(_Context):
    """What /rank and /best_of_n both read: N candidate answers to one context."""

    candidates: list[Text] = Field(..., min_length=1, description="The N candidate responses to the context.")
    objective: Text | None = Field(None, description="Multi-output models: which output is the reward.")
    method: Literal["knockout", "round_robin"] = Field(
        "knockout",
        description="Pairwise models: knockout (n-1 comparisons) or round_robin (all pairs, Bradley-Terry). "
        "Pointwise models always rank by reward: identical candidates tie, exact ties go to the earlier one.",
    )

    def item_sizes(self) -> list[int]:
        return [self.context_size() + len(c) for c in self.candidates]


class RankRequest(_Candidates):
    pass


class RankResponse(BaseModel):
    method: str
    order: list[int]
    scores: list[float]
    best: int
    comparisons: int
    matches: list[dict[str, Any]]


class BestOfNRequest(_Candidates):
    pass


class BestOfNResponse(BaseModel):
    best: int = Field(description="Index of the best candidate; an exact tie goes to the earlier one.")
    best_candidate: str = Field(description="The best candidate's text.")
    order: list[int] = Field(description="Candidate indices, best first.")
    ranks: list[int] = Field(description="1-based rank of each candidate, in input order.")
    scores: list[float] = Field(description="Each candidate's reward (pairwise models: Bradley-Terry strength).")
    method: str
    members: dict[str, list[float]] | None = Field(None, description="Ensembles: each member's own rewards.")
