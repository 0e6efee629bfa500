"""A reward function file for OpenRLHF that asks a rewardkit server (or several).

    python -m rewardkit.integrations.openrlhf_reward      # prints this file's path
    REWARDKIT_URL=http://127.0.0.1:8000 ... --remote_rm_url /that/path/openrlhf_reward.py

OpenRLHF imports this file and calls ``reward_func(queries, prompts, labels)``. Settings come from the
environment: REWARDKIT_URL (default http://127.0.0.1:8000; several, comma-separated, are used
round-robin with failover), REWARDKIT_API_KEY, REWARDKIT_TIMEOUT. A failed call raises instead of
returning a silent default: a missing reward must stop the step.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from rewardkit.client import Client

__all__ = ["reward_func"]

_CLIENT: Client | None = None
_MADE = threading.Lock()  # OpenRLHF calls reward_func from several threads at once


def _client() -> Client:
    global _CLIENT
    with _MADE:
        if _CLIENT is None:
            _CLIENT = Client(
                os.environ.get("REWARDKIT_URL", "http://127.0.0.1:8000"),
                api_key=os.environ.get("REWARDKIT_API_KEY") or None,
                timeout=float(os.environ.get("REWARDKIT_TIMEOUT", "300")),
            )
        return _CLIENT


def reward_func(
    queries: list[str], prompts: list[str] | None = None, labels: list[Any] | None = None, **kwargs: Any
) -> dict[str, Any]:
    """OpenRLHF's custom reward contract: tensors of rewards/scores plus extra_logs for wandb (lists of
    floats where torch is not installed, so that the file imports and answers on any host)."""
    answer = _client().get_reward(list(queries), prompts, labels)
    return {
        "rewards": _tensor(answer["rewards"]),
        "scores": _tensor(answer["scores"]),
        "extra_logs": {k: _tensor(v) for k, v in (answer.get("extra_logs") or {}).items()},
    }


def _tensor(values: list[float]) -> Any:
    try:
        import torch
    except ImportError:
        return [float(v) for v in values]
    return torch.tensor(values, dtype=torch.float32)


if __name__ == "__main__":
    print(os.path.abspath(__file__))
