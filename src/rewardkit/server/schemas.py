"""Request and response bodies. Validation here is the caller's side: failures are 4xx."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator, model_validator

__all__ = [
    "GetRewardRequest",
    "GetRewardResponse",
    "Message",
    "ScoreBatchResponse",
    "ScoreRequest",
    "ScoreResponse",
]


class GetRewardRequest(BaseModel):
    """OpenRLHF's remote reward call. Extra fields that newer clients send are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    query: list[StrictStr] = Field(
        ..., min_length=1, description="Full texts to score (prompt + response, template applied)."
    )
    prompts: list[Any] | None = Field(None, description="Optional, one per query; logged, not scored.")
    labels: list[Any] | None = Field(None, description="Optional, one per query; logged, not scored.")

    @field_validator("query", mode="before")
    @classmethod
    def _single_string(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _same_lengths(self) -> GetRewardRequest:
        for name in ("prompts", "labels"):
            values = getattr(self, name)
            if values is not None and len(values) != len(self.query):
                raise ValueError(
                    f"'{name}' has {len(values)} items but 'query' has {len(self.query)}; send one per query"
                )
        return self


class GetRewardResponse(BaseModel):
    rewards: list[float]
    scores: list[float]
    extra_logs: dict[str, list[float]]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: StrictStr
    content: StrictStr


class ScoreRequest(BaseModel):
    """One conversation (``messages``) or several (``conversations``)."""

    messages: list[Message] | None = Field(None, min_length=1)
    conversations: list[list[Message]] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> ScoreRequest:
        if (self.messages is None) == (self.conversations is None):
            raise ValueError("send exactly one of 'messages' (one conversation) or 'conversations' (a list of them)")
        return self

    def as_conversations(self) -> list[list[dict[str, str]]]:
        groups = [self.messages] if self.messages is not None else list(self.conversations or [])
        return [[m.model_dump() for m in group] for group in groups]


class ScoreResponse(BaseModel):
    score: float
    num_tokens: int
    truncated: bool


class ScoreBatchResponse(BaseModel):
    scores: list[float]
    num_tokens: list[int]
    truncated: list[bool]
