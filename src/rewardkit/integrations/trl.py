"""TRL reward functions (GRPOTrainer(reward_funcs=[...])) that ask a rewardkit server (or several).

TRL calls ``fn(prompts=..., completions=..., **columns)`` with either plain strings or conversations
(lists of {"role", "content"}), and logs the function under its ``__name__``. It runs ``async def``
reward functions concurrently with each other (on its own event loop); `async_reward_function`
gives one. ``label_column`` names the dataset column sent as ``labels``, for the server's reward
functions (``rewardkit serve MODEL --reward-fn math`` checks answers against it).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from rewardkit.client import AsyncClient, Client

__all__ = ["RemoteRewardFunction", "async_reward_function"]


def _ask(
    client: Client | AsyncClient,
    prompts: Sequence[Any],
    completions: Sequence[Any],
    label_column: str | None,
    columns: dict[str, Any],
) -> Any:
    """The client call for one TRL batch (an awaitable on an AsyncClient)."""
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
    labels = None
    if label_column is not None:
        if label_column not in columns:
            raise ValueError(f"label_column {label_column!r} is not a dataset column; columns: {sorted(columns)}")
        labels = list(columns[label_column])
    if completions and isinstance(completions[0], list):
        conversations = [list(p) + list(c) for p, c in zip(prompts, completions)]
        return client.get_reward_conversations(conversations, labels)
    texts = [str(p) + str(c) for p, c in zip(prompts, completions)]
    return client.get_reward(texts, [str(p) for p in prompts], labels)


class RemoteRewardFunction:
    """``GRPOTrainer(reward_funcs=[RemoteRewardFunction("http://127.0.0.1:8000")], ...)``."""

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        api_key: str | None = None,
        name: str = "rewardkit",
        timeout: float = 300.0,
        label_column: str | None = None,
    ):
        self.__name__ = name
        self.label_column = label_column
        self._client = Client(url, api_key=api_key, timeout=timeout)

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        return _ask(self._client, prompts, completions, self.label_column, kwargs)["rewards"]


def async_reward_function(
    url: str | Sequence[str],
    *,
    api_key: str | None = None,
    name: str = "rewardkit",
    timeout: float = 300.0,
    label_column: str | None = None,
) -> Callable[..., Awaitable[list[float]]]:
    """An ``async def`` reward function for TRL (which awaits it beside its other async reward
    functions, so the server call overlaps theirs). One AsyncClient per event loop, made on first use."""
    clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncClient] = weakref.WeakKeyDictionary()

    async def reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        loop = asyncio.get_running_loop()
        if loop not in clients:
            clients[loop] = AsyncClient(url, api_key=api_key, timeout=timeout)
        answer = await _ask(clients[loop], prompts, completions, label_column, kwargs)
        return answer["rewards"]

    reward.__name__ = reward.__qualname__ = name
    return reward
