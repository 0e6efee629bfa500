"""HTTP clients for a rewardkit server (or any server speaking OpenRLHF's /get_reward), or several.

The request bodies are written once here, the answer parsing and retry policy once in retry.py;
the methods once in `_Calls`; Client and AsyncClient differ only in how they send (their two loops):
on an AsyncClient every method returns an awaitable. Retries cover what a
busy or restarting server answers (429, 502, 503, 504 and connection errors), honouring
Retry-After, because a trainer that loses a reward silently corrupts its batch. Given several URLs
(a list, or comma-separated), calls go round-robin over them; a call that fails on one fails over
to the next at once, and the failed one must pass GET /health before it is used again
(endpoints.py). A reward is never dropped: the call raises only when every try failed.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from rewardkit.client.endpoints import Endpoints, split_urls
from rewardkit.client.retry import RetryPolicy, read_answer
from rewardkit.errors import ServerResponseError
from rewardkit.types import Conversation, ScoreResult, score_inputs

__all__ = ["AsyncClient", "Client"]

Messages = Conversation | None


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    body: Any = None
    read: Callable[[Any], Any] | None = None  # what the caller gets from the JSON answer (None: all of it)


def _reward_call(
    queries: Sequence[str] | None,
    prompts: Sequence[Any] | None,
    labels: Sequence[Any] | None,
    conversations: Sequence[Conversation] | None = None,
) -> _Call:
    body: dict[str, Any] = (
        {"query": list(queries or [])} if conversations is None else {"conversations": [list(c) for c in conversations]}
    )
    if prompts is not None:
        body["prompts"] = list(prompts)
    if labels is not None:
        body["labels"] = list(labels)
    return _Call("POST", "/get_reward", body)


def _score_call(inputs: Sequence[str] | Sequence[Conversation], objective: str | None, read: Callable) -> _Call:
    kind, items = score_inputs(inputs)
    body: dict[str, Any] = {kind: items if kind == "texts" else [list(c) for c in items]}
    if objective is not None:
        body["objective"] = objective
    return _Call("POST", "/score", body, read)


def _score_results(body: dict[str, Any]) -> list[ScoreResult]:
    """A /score batch answer as ScoreResults, as every Python front returns them."""
    scores = body["scores"]
    optional = {key: body.get(key) or [None] * len(scores) for key in ("objectives", "steps", "members")}
    return [
        ScoreResult(
            score=float(score),
            num_tokens=int(tokens),
            truncated=bool(truncated),
            objectives=objectives or {},
            steps=tuple(steps) if steps is not None else None,
            members=members or {},
        )
        for score, tokens, truncated, objectives, steps, members in zip(
            scores,
            body["num_tokens"],
            body["truncated"],
            optional["objectives"],
            optional["steps"],
            optional["members"],
            strict=True,
        )
    ]


def _with_context(body: dict[str, Any], prompt: str | None, messages: Conversation | None) -> dict[str, Any]:
    if prompt is not None:
        body["prompt"] = prompt
    if messages is not None:
        body["messages"] = list(messages)
    return body


def _candidates_call(
    path: str,
    candidates: Sequence[str],
    prompt: str | None,
    messages: Conversation | None,
    objective: str | None,
    method: str,
) -> _Call:
    body: dict[str, Any] = {"candidates": list(candidates), "method": method}
    if objective is not None:
        body["objective"] = objective
    return _Call("POST", path, _with_context(body, prompt, messages))


@dataclass
class _Tries:
    """One call's count: retries spent, free moves to another server since the last one, and the last
    error a server itself gave (what the call raises in the end, rather than a failed health probe)."""

    attempt: int = 0
    failovers: int = 0
    last: BaseException | None = None


class _Unhealthy(httpx.TransportError):
    """A server back from a cool-down did not answer GET /health with 200."""


class _Calls(ABC):
    """Every call the clients make, written once over ``_send`` (sync or async)."""

    _transport_class: Any  # httpx.AsyncClient or httpx.Client

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        api_key: str | None = None,
        timeout: float = 300.0,
        retries: int = 3,
        transport: Any = None,
        policy: RetryPolicy | None = None,
        limits: httpx.Limits | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy(retries=retries)
        self.urls = split_urls(url)
        self._servers = [
            self._transport_class(
                base_url=each,
                headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
                timeout=timeout,
                transport=transport,
                limits=limits or httpx.Limits(),
            )
            for each in self.urls
        ]
        self._endpoints = Endpoints(len(self._servers))

    @property
    def base_url(self) -> str:
        """The first server's URL."""
        return self.urls[0]

    def _failed(self, server: int, tries: _Tries, error: BaseException) -> float:
        """After a failed try on ``server``: seconds to wait before the next try, or the final error
        raised. A retryable failure sets the server aside; while another is up, the call fails over
        to it at once, at most once per other server before a retry is counted, so a call makes at
        most (retries + 1) x servers tries and always ends."""
        if isinstance(error, _Unhealthy):
            error = tries.last or error
        else:
            tries.last = error
        retryable = isinstance(error, httpx.TransportError) or (
            isinstance(error, ServerResponseError) and self.policy.retryable(error.status_code)
        )
        if retryable and len(self._servers) > 1:
            self._endpoints.failed(server)
            if tries.failovers < len(self._servers) - 1 and self._endpoints.another_up(server):
                tries.failovers += 1
                return 0.0
        tries.failovers = 0
        delay = self.policy.wait_or_raise(tries.attempt, error)
        tries.attempt += 1
        return delay

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

    def get_reward_conversations(
        self, conversations: Sequence[Conversation], labels: Sequence[Any] | None = None
    ) -> Any:
        """/get_reward for conversations (templated by the server): ``{"rewards", "scores",
        "extra_logs"}``, with the server's reward functions (--reward-fn) reading ``labels``."""
        return self._send(_reward_call(None, None, labels, conversations))

    def score(self, inputs: Sequence[str] | Sequence[Conversation], *, objective: str | None = None) -> Any:
        """Rewards (floats) for full texts (chat template already applied) or conversations (templated
        by the server), as `RewardModel.score` returns them; with reward functions on the server, the
        combined reward that /get_reward gives. ``objective`` picks an output of multi-objective models."""
        return self._send(_score_call(inputs, objective, lambda body: [float(s) for s in body["scores"]]))

    def score_results(self, inputs: Sequence[str] | Sequence[Conversation], *, objective: str | None = None) -> Any:
        """A ScoreResult per input (token count, truncation, objectives, steps, ensemble members), as
        `RewardModel.score_results` returns them."""
        return self._send(_score_call(inputs, objective, _score_results))

    def compare(self, responses: Sequence[str], *, prompt: str | None = None, messages: Messages = None) -> Any:
        """``{"probability", "winner", ...}``: P(responses[0] better than responses[1]); the context is
        ``prompt`` (a string) or ``messages`` (the conversation so far)."""
        return self._send(_Call("POST", "/compare", _with_context({"responses": list(responses)}, prompt, messages)))

    def rank(
        self,
        candidates: Sequence[str],
        *,
        prompt: str | None = None,
        messages: Messages = None,
        objective: str | None = None,
        method: str = "knockout",
    ) -> Any:
        """``{"order", "scores", "best", ...}``: candidates ranked best first."""
        return self._send(_candidates_call("/rank", candidates, prompt, messages, objective, method))

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
        return self._send(_candidates_call("/best_of_n", candidates, prompt, messages, objective, method))

    def info(self) -> Any:
        return self._send(_Call("GET", "/info"))


def _answer(call: _Call, body: Any) -> Any:
    return call.read(body) if call.read is not None else body


class AsyncClient(_Calls):
    """``async with AsyncClient("http://127.0.0.1:8000") as rk: await rk.score([...])``; several
    servers: ``AsyncClient(["http://a:8000", "http://b:8000"])``."""

    _transport_class = httpx.AsyncClient

    async def _send(self, call: _Call) -> Any:
        tries = _Tries()
        while True:
            server = self._endpoints.pick()
            try:
                if self._endpoints.needs_probe(server) and not await self._healthy(server):
                    raise _Unhealthy(f"{self.urls[server]} does not answer GET /health with 200")
                response = await self._servers[server].request(call.method, call.path, json=call.body)
                answer = _answer(call, read_answer(response))
            except (ServerResponseError, httpx.TransportError) as exc:
                await asyncio.sleep(self._failed(server, tries, exc))
            else:
                self._endpoints.succeeded(server)
                return answer

    async def _healthy(self, server: int) -> bool:
        try:
            return (await self._servers[server].get("/health")).status_code == 200
        except httpx.TransportError:
            return False

    async def health(self) -> bool:
        """True when a server (any of several) answers GET /health with 200."""
        for server in range(len(self._servers)):
            if await self._healthy(server):
                return True
        return False

    async def aclose(self) -> None:
        for server in self._servers:
            await server.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class Client(_Calls):
    """Blocking form of AsyncClient: ``Client(url).score(["..."])``."""

    _transport_class = httpx.Client

    def _send(self, call: _Call) -> Any:
        tries = _Tries()
        while True:
            server = self._endpoints.pick()
            try:
                if self._endpoints.needs_probe(server) and not self._healthy(server):
                    raise _Unhealthy(f"{self.urls[server]} does not answer GET /health with 200")
                response = self._servers[server].request(call.method, call.path, json=call.body)
                answer = _answer(call, read_answer(response))
            except (ServerResponseError, httpx.TransportError) as exc:
                time.sleep(self._failed(server, tries, exc))
            else:
                self._endpoints.succeeded(server)
                return answer

    def _healthy(self, server: int) -> bool:
        try:
            return self._servers[server].get("/health").status_code == 200
        except httpx.TransportError:
            return False

    def health(self) -> bool:
        """True when a server (any of several) answers GET /health with 200."""
        return any(self._healthy(server) for server in range(len(self._servers)))

    def close(self) -> None:
        for server in self._servers:
            server.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
