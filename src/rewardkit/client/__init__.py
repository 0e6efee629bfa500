"""HTTP clients: a rewardkit (or OpenRLHF-compatible) server's Client and AsyncClient, one retry
policy for every caller, and Best-of-N sampling from an OpenAI-compatible server. Knows the wire
formats; knows no model and no torch."""

from rewardkit.client.http import AsyncClient, Client
from rewardkit.client.retry import RetryPolicy

__all__ = ["AsyncClient", "Client", "RetryPolicy"]
