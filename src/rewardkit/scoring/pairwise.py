"""Comparisons with a pairwise preference model: build both orders of each pair, turn the model's
P(first better) for the two orders into one position-debiased probability. Also the checks and
conversions every comparison needs, pairwise or pointwise (responses, context, Comparison).

Knows the templater and plain math; knows nothing about batching, engines or HTTP.

P(a > b) = (P_A(a, b) + 1 - P_A(b, a)) / 2, where P_A(x, y) is the model's probability that the
response shown first (as "A") is better. A model that always prefers whichever response comes
first gets 0.5, not a win.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rewardkit.errors import InputTooLongError, InvalidInputError
from rewardkit.selection.ranking import Plan, plan
from rewardkit.templating import Templater
from rewardkit.types import Conversation, TokenizedItem, with_answer

__all__ = [
    "Comparison",
    "PairPrompter",
    "PairQuestion",
    "both_orders",
    "check_responses",
    "comparison",
    "ordered_pairs",
    "pointwise_conversations",
    "render_context",
    "tournament",
]

ROLES = ("system", "user", "assistant")


def render_context(prompt: str | None = None, messages: Conversation | None = None) -> str:
    """The {context} of the template, as RLHFlow's pairwise models were trained on it: the turns in
    their plain layout (``\n\n<turn> user\n {content}`` / ``<turn> assistant``, alternating, then
    three newlines). A ``prompt`` string is one user turn."""
    if (prompt is None) == (messages is None):
        raise InvalidInputError("send exactly one of 'prompt' (a string) or 'messages' (the conversation so far)")
    if prompt is not None:
        if not isinstance(prompt, str):
            raise InvalidInputError(f"prompt: expected a string, got {type(prompt).__name__}")
        messages = [{"role": "user", "content": prompt}]
    if not isinstance(messages, list) or not messages:
        raise InvalidInputError("messages: expected a non-empty list of {'role', 'content'} objects")
    turns = []
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if role not in ROLES or not isinstance(content, str):
            raise InvalidInputError(
                f"messages[{i}]: expected {{'role': one of {', '.join(ROLES)}, 'content': a string}}"
            )
        turns.append(f"\n\n<turn> {'user' if i % 2 == 0 else 'assistant'}\n {content}")
    return "\n" + "".join(turns) + "\n\n\n"


def check_responses(responses: Sequence[str], *, pair: bool = False) -> list[str]:
    """The responses as a list of strings: exactly two for a comparison, at least one to rank."""
    if not isinstance(responses, (list, tuple)) or not responses:
        raise InvalidInputError("responses: expected a non-empty list of strings")
    if pair and len(responses) != 2:
        raise InvalidInputError(f"responses: a comparison takes exactly 2, got {len(responses)}; rank more instead")
    for i, response in enumerate(responses):
        if not isinstance(response, str):
            raise InvalidInputError(f"responses[{i}]: expected a string, got {type(response).__name__}")
    return list(responses)


def tournament(method: str, n: int) -> Plan:
    """The ranking plan, with an unknown method as a caller error."""
    try:
        return plan(method, n)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None


def both_orders(p_first_ab: float, p_first_ba: float) -> float:
    """P(a > b) from P_A(a, b) and P_A(b, a)."""
    return (p_first_ab + 1.0 - p_first_ba) / 2.0


@dataclass(frozen=True)
class PairQuestion:
    """Which of two responses to a rendered context (`render_context`) is better."""

    context: str
    first: str
    second: str


class PairPrompter:
    """Context + two responses -> the token ids the pairwise model reads.

    As RLHFlow's reference code does: the filled template is one user message rendered by the chat
    template (no generation prompt), the BOS text is removed and the result is tokenized without
    special tokens; a tokenizer without a chat template tokenizes the filled template as is.
    Over-long inputs lose the START of the context; if the two responses alone do not fit, the
    comparison is refused (HTTP 413).
    """

    def __init__(self, templater: Templater, template: str) -> None:
        self.templater = templater
        self.template = template

    def encode(self, context: str, first: str, second: str) -> TokenizedItem:
        limit = self.templater.max_length
        reach = limit * self.templater.longest_token  # characters that make more than `limit` tokens, as a rule
        if len(first) + len(second) > reach and self._too_many(first + second, reach, limit):
            raise InputTooLongError(  # refused before tokenizing megabytes
                f"the two responses are {len(first) + len(second)} characters, more than {limit} tokens can hold; "
                "send shorter responses or raise --max-length"
            )
        context = context[-reach:]  # the start of a longer context is cut below anyway
        ids = self._ids(context, first, second)
        original = len(ids)
        if original <= limit:
            return TokenizedItem(input_ids=tuple(ids), original_length=original)
        tok = self.templater.tokenizer
        context_ids = tok.encode(context, add_special_tokens=False)
        keep = len(context_ids) - (original - limit) - 2  # a margin for merges at the cut
        if self.templater.truncation == "error" or keep < 0:
            raise InputTooLongError(
                f"the comparison is {original} tokens, over the limit of {limit}, and cutting the context "
                f"{'is disabled (--truncation error)' if keep >= 0 else 'cannot make the two responses fit'}; "
                "send shorter responses or raise --max-length"
            )
        ids = self._ids(tok.decode(context_ids[len(context_ids) - keep :]), first, second)
        if len(ids) > limit:
            raise InputTooLongError(f"the comparison is {len(ids)} tokens after cutting the context; limit {limit}")
        return TokenizedItem(input_ids=tuple(ids), original_length=original, truncated=True)

    def _too_many(self, text: str, reach: int, limit: int) -> bool:
        """Whether the first ``reach`` characters of ``text`` already make more than ``limit`` tokens
        (a tokenizer that drops whitespace can make far fewer)."""
        return len(self.templater.tokenizer(text[:reach], add_special_tokens=False)["input_ids"]) > limit

    def encode_questions(self, questions: Sequence[PairQuestion]) -> list[TokenizedItem]:
        """Two items per question (first shown first, then second shown first), in question order."""
        items = []
        for q in questions:
            items.append(self.encode(q.context, q.first, q.second))
            items.append(self.encode(q.context, q.second, q.first))
        return items

    def _ids(self, context: str, first: str, second: str) -> list[int]:
        text = self.template.format(context=context, response_a=first, response_b=second)
        tok = self.templater.tokenizer
        if self.templater.has_chat_template:
            rendered = tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False)
            if tok.bos_token:
                rendered = rendered.replace(tok.bos_token, "")
            return list(tok(rendered, add_special_tokens=False)["input_ids"])
        return list(tok(text, add_special_tokens=True)["input_ids"])


def ordered_pairs(p_first: Sequence[float]) -> list[tuple[float, float]]:
    """Flat [P_A(i, j), P_A(j, i), ...] -> one (P_A(i, j), P_A(j, i)) per pair."""
    return [(p_first[k], p_first[k + 1]) for k in range(0, len(p_first), 2)]


@dataclass(frozen=True)
class Comparison:
    """P(responses[0] better than responses[1]), the winner (0 on an exact tie), and the evidence:
    the two ordered probabilities of a pairwise model, or the two rewards of a pointwise one."""

    probability: float
    winner: int
    orders: tuple[float, float] | None = None
    scores: tuple[float, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def comparison(*, p_first: Sequence[float] | None = None, scores: Sequence[float] | None = None) -> Comparison:
    """From a pairwise model's [P_A(a, b), P_A(b, a)], or from two rewards (Bradley-Terry: sigmoid of the gap)."""
    if p_first is not None:
        p = both_orders(p_first[0], p_first[1])
        return Comparison(p, 0 if p >= 0.5 else 1, orders=(p_first[0], p_first[1]))
    a, b = scores  # type: ignore[misc]
    gap = a - b
    p = 1.0 / (1.0 + math.exp(-gap)) if gap >= 0 else math.exp(gap) / (1.0 + math.exp(gap))
    return Comparison(p, 0 if p >= 0.5 else 1, scores=(a, b))


def pointwise_conversations(
    responses: Sequence[str], prompt: str | None = None, messages: Conversation | None = None
) -> list[Conversation]:
    """One conversation per response, for scoring candidates with a pointwise reward model."""
    if (prompt is None) == (messages is None):
        raise InvalidInputError("send exactly one of 'prompt' (a string) or 'messages' (the conversation so far)")
    context = prompt if prompt is not None else list(messages or [])
    return [with_answer(context, response) for response in responses]
