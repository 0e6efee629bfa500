"""HTTP clients for a rewardkit server (or any server speaking OpenRLHF's /get_reward).

The request bodies are written once here, the answer parsing and retry policy once in retry.py;
the methods once in `_Calls`; Client and AsyncClient differ only in how they send (their two loops):
on an AsyncClient every method returns an awaitable. Retries cover what a
busy or restarting server answers (429, 502, 503, 504 and connection errors), honouring
Retry-After, because a trainer that loses a reward silently corrupts its batch.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import httpx

from rewardkit.client.retry import RetryPolicy, read_answer
from rewardkit.errors import ServerResponseError
from rewardkit.types import Conversation

__all__ = ["AsyncClient", "Client"]

Messages = Conversation | None


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    body: Any = None
    pick: str | None = None  # the one key of the JSON answer the caller wants, or the whole answer


def _reward_call(queries: Sequence[str], prompts: Sequence[Any] | None, labels: Sequence[Any] | None) -> _Call:
    body: dict[str, Any] = {"query": list(queries)}
    if prompts is not None:
        body["prompts"] = list(prompts)
    if labels is not None:
        body["labels"] = list(labels)
    return _Call("POST", "/get_reward", body)


def _messages_call(conversations: Sequence[Conversation], objective: str | None = None) -> _Call:
    body: dict[str, Any] = {"conversations": [list(c) for c in conversations]}
    if objective is not None:
        body["objective"] = objective
    return _Call("POST", "/score", body)


def _candidates_call(
    path: str, responses: Sequence[str], prompt: str | None = None, messages: Conversation | None = None, **extra: Any
) -> _Call:
    body: dict[str, Any] = {"responses": list(responses), **extra}
    if prompt is not None:
        body["prompt"] = prompt
    if messages is not None:
        body["messages"] = list(messages)
    return _Call("POST", path, body)


def _best_of_n_call(
    candidates: Sequence[str], prompt: str | None, messages: Conversation | None, objective: str | None, method: str
) -> _Call:
    call = _candidates_call("/best_of_n", [], prompt, messages, method=method)
    body = {key: value for key, value in call.body.items() if key != "responses"}
    body["candidates"] = list(candidates)
    if objective is not None:
        body["objective"] = objective
    return _Call("POST", "/best_of_n", body)


class _Calls(ABC):
    """Every call the clients make, written once over ``_send`` (sync or async)."""

    _transport_class: Any  # httpx.AsyncClient or httpx.Client

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        timeout: float = 300.0,
        retries: int = 3,
        transport: Any = None,
        policy: RetryPolicy | None = None,
        limits: httpx.Limits | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy(retries=retries)
        self._http = self._transport_class(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
            timeout=timeout,
            transport=transport,
            limits=limits or httpx.Limits(),
        )

    @property
    def base_url(self) -> str:
        return str(self._http.base_url).rstrip("/")

    @property
    def retries(self) -> int:
        """How many times a failed call is tried again (the policy's)."""
        return self.policy.retries

    @abstractmethod
    def _send(self, call: _Call) -> Any:
        """Send under the retry policy; the answer (or an awaitable of it)."""

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One call under the retry policy; the JSON answer."""
        return self._send(_Call(method, path, body))

    def get_reward(
        self, queries: Sequence[str], prompts: Sequence[Any] | None = None, labels: Sequence[Any] | None = None
    ) -> Any:
        """The raw OpenRLHF response: ``{"rewards", "scores", "extra_logs"}``."""
        return self._send(_reward_call(queries, prompts, labels))

    def score(self, texts: Sequence[str]) -> Any:
        """Rewards for full texts (chat template already applied)."""
        return self._send(replace(_reward_call(texts, None, None), pick="rewards"))

    def score_messages(self, conversations: Sequence[Conversation], *, objective: str | None = None) -> Any:
        """Rewards for conversations (templated by the server); ``objective`` picks an output of
        multi-objective models."""
        return self._send(replace(_messages_call(conversations, objective), pick="scores"))

    def score_conversations(self, conversations: Sequence[Conversation], *, objective: str | None = None) -> Any:
        """The raw /score response: ``scores``, ``num_tokens``, ``truncated``, and ``objectives``,
        ``steps`` or ``members`` (ensembles) where the model has them."""
        return self._send(_messages_call(conversations, objective))

    def compare(self, responses: Sequence[str], *, prompt: str | None = None, messages: Messages = None) -> Any:
        """``{"probability", "winner", ...}``: P(responses[0] better than responses[1]); the context is
        ``prompt`` (a string) or ``messages`` (the conversation so far)."""
        return self._send(_candidates_call("/compare", responses, prompt, messages))

    def rank(
        self,
        responses: Sequence[str],
        *,
        prompt: str | None = None,
        messages: Messages = None,
        method: str = "knockout",
    ) -> Any:
        """``{"order", "scores", "best", ...}``: candidates ranked best first."""
        return self._send(_candidates_call("/rank", responses, prompt, messages, method=method))

    def best_of_n(
        self,
        candidates: Sequence[str],
        *,
        prompt: str | None = None,
        messages: Messages = None,
        objective: str | None = None,
        method: str = "knockout",
    ) -> Any:
        """``{"best", "best_candidate", "order", "ranks", "scores", ...}`` for one group, in one call."""
        return self._send(_best_of_n_call(candidates, prompt, messages, objective, method))

    def info(self) -> Any:
        return self._send(_Call("GET", "/info"))


def _answer(call: _Call, body: Any) -> Any:
    return body[call.pick] if call.pick is not None else body


class AsyncClient(_Calls):
    """``async with AsyncClient("http://127.0.0.1:8000") as rk: await rk.score([...])``."""

    _transport_class = httpx.AsyncClient

    async def _send(self, call: _Call) -> Any:
        attempt = 0
        while True:
            try:
                return _answer(call, read_answer(await self._http.request(call.method, call.path, json=call.body)))
            except (ServerResponseError, httpx.TransportError) as exc:
                delay = self.policy.wait_or_raise(attempt, exc)
                attempt += 1
                await asyncio.sleep(delay)

    async def health(self) -> bool:
        try:
            return (await self._http.get("/health")).status_code == 200
        except httpx.TransportError:
            return False

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class Client(_Calls):
    """Blocking form of AsyncClient: ``Client(url).score(["..."])``."""

    _transport_class = httpx.Client

    def _send(self, call: _Call) -> Any:
        attempt = 0
        while True:
            try:
                return _answer(call, read_answer(self._http.request(call.method, call.path, json=call.body)))
            except (ServerResponseError, httpx.TransportError) as exc:
                delay = self.policy.wait_or_raise(attempt, exc)
                attempt += 1
                time.sleep(delay)

    def health(self) -> bool:
        try:
            return self._http.get("/health").status_code == 200
        except httpx.TransportError:
            return False

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
