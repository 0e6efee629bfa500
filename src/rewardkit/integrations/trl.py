"""A TRL reward function (GRPOTrainer(reward_funcs=[...])) that asks a rewardkit server.

TRL calls ``fn(prompts=..., completions=..., **columns)`` with either plain strings or conversations
(lists of {"role", "content"}), and logs the function under its ``__name__``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rewardkit.client import Client

__all__ = ["RemoteRewardFunction"]


class RemoteRewardFunction:
    """``GRPOTrainer(reward_funcs=[RemoteRewardFunction("http://127.0.0.1:8000")], ...)``."""

    def __init__(self, url: str, *, api_key: str | None = None, name: str = "rewardkit", timeout: float = 300.0):
        self.__name__ = name
        self._client = Client(url, api_key=api_key, timeout=timeout)

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        if completions and isinstance(completions[0], list):
            conversations = [list(p) + list(c) for p, c in zip(prompts, completions)]
            return self._client.score_messages(conversations)
        return self._client.score([str(p) + str(c) for p, c in zip(prompts, completions)])
