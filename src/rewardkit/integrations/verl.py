"""A verl custom reward function that asks a rewardkit server (or several): the model's reward and
the server's reward functions (``rewardkit serve MODEL --reward-fn math``) in one call.

    python -m rewardkit.integrations.verl      # prints this file's path
    REWARDKIT_URL=http://127.0.0.1:8000 python -m verl.trainer.main_ppo ... \\
        reward.custom_reward_function.path=/that/path/verl.py \\
        reward.custom_reward_function.name=compute_score

verl calls ``compute_score(data_source=, solution_str=, ground_truth=, extra_info=)`` per sample;
its reward loop managers await ``async def`` ones concurrently, so a batch's calls reach the server
together and are batched there. verl's older reward manager (verl/workers/reward_manager) calls the
function synchronously: give it ``compute_score_sync`` instead.

The prompt is read from ``extra_info``: a chat (``extra_info["prompt"]`` as a list of messages) or a
string under "question", "problem" or "prompt" (verl's GSM8K and MATH preprocessing keep the
question there); the response is scored as the assistant's answer to it, through the model's chat
template. With no prompt there, the response is scored alone. The answer is verl's dict: "score"
and every part of the reward (model, each rule) for its logs.

Settings come from the environment: REWARDKIT_URL (comma-separated for several servers),
REWARDKIT_API_KEY, REWARDKIT_TIMEOUT.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from typing import Any

from rewardkit.client import AsyncClient, Client
from rewardkit.types import with_answer

__all__ = ["compute_score", "compute_score_sync", "prompt_messages"]

PROMPT_KEYS = ("question", "problem", "prompt")

_SYNC: Client | None = None
_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncClient] = weakref.WeakKeyDictionary()


def _settings() -> tuple[str, str | None, float]:
    return (
        os.environ.get("REWARDKIT_URL", "http://127.0.0.1:8000"),
        os.environ.get("REWARDKIT_API_KEY") or None,
        float(os.environ.get("REWARDKIT_TIMEOUT", "300")),
    )


def _client() -> AsyncClient:
    """One client per event loop (verl keeps one loop per reward worker; a client is bound to its loop)."""
    loop = asyncio.get_running_loop()
    if loop not in _CLIENTS:
        url, key, timeout = _settings()
        _CLIENTS[loop] = AsyncClient(url, api_key=key, timeout=timeout)
    return _CLIENTS[loop]


def prompt_messages(extra_info: dict[str, Any] | None) -> list[dict[str, str]] | None:
    """The conversation before the response, from verl's ``extra_info``; None when it holds none."""
    info = extra_info or {}
    chat = info.get("prompt")
    if isinstance(chat, list) and chat and all(isinstance(m, dict) and "role" in m for m in chat):
        return [{"role": str(m["role"]), "content": str(m.get("content", ""))} for m in chat]
    for key in PROMPT_KEYS:
        if isinstance(info.get(key), str) and info[key]:
            return [{"role": "user", "content": info[key]}]
    return None


def _call(client: AsyncClient | Client, solution_str: str, ground_truth: Any, extra_info: Any) -> Any:
    """The /get_reward call for one sample (an awaitable on an AsyncClient)."""
    labels = None if ground_truth is None else [ground_truth]
    prompt = prompt_messages(extra_info)
    if prompt is None:
        return client.get_reward([solution_str], None, labels)
    return client.get_reward_conversations([with_answer(prompt, solution_str)], labels)


def _verl_answer(answer: dict[str, Any]) -> dict[str, Any]:
    logs = {name: values[0] for name, values in (answer.get("extra_logs") or {}).items()}
    return {**logs, "score": answer["rewards"][0]}


async def compute_score(
    data_source: str | None = None,
    solution_str: str = "",
    ground_truth: Any = None,
    extra_info: dict[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """verl's custom reward function: ``{"score": reward, "model": ..., "<rule>": ..., ...}``."""
    return _verl_answer(await _call(_client(), solution_str, ground_truth, extra_info))


def compute_score_sync(
    data_source: str | None = None,
    solution_str: str = "",
    ground_truth: Any = None,
    extra_info: dict[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """compute_score for verl's synchronous reward manager (one blocking call per sample)."""
    global _SYNC
    if _SYNC is None:
        url, key, timeout = _settings()
        _SYNC = Client(url, api_key=key, timeout=timeout)
    return _verl_answer(_call(_SYNC, solution_str, ground_truth, extra_info))


if __name__ == "__main__":
    print(os.path.abspath(__file__))
