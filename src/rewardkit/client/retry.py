"""The one retry policy every HTTP caller in rewardkit follows, and how an answer is read.

Busy or restarting servers are normal (a trainer's reward server under load, a sampling server
loading weights); a caller that gives up at the first 503 silently loses a reward or a sample. So
429 and the gateway/overload statuses are retried with exponential backoff, or after the server's
own Retry-After; caller errors (4xx) never are. Knows httpx responses; knows no route or body.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from rewardkit.errors import ServerResponseError

__all__ = ["RetryPolicy", "read_answer", "server_message"]

MAX_RETRY_AFTER = 60.0  # a server asking for longer is treated as asking for this


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` tries after the first; ``any_5xx`` also retries 500 and 501 (a sampling server's
    crash mid-generation is usually transient; a reward server's 500 names a bad input)."""

    retries: int = 3
    any_5xx: bool = False

    def retryable(self, status: int) -> bool:
        return status in (429, 502, 503, 504) or (self.any_5xx and status >= 500)

    def delay(self, attempt: int, error: BaseException) -> float | None:
        """Seconds to wait before try ``attempt + 1``, or None when ``error`` is final."""
        if attempt >= self.retries:
            return None
        backoff = min(0.25 * 2**attempt, 8.0)
        if isinstance(error, ServerResponseError):
            if not self.retryable(error.status_code):
                return None
            return backoff if error.retry_after is None else error.retry_after
        return backoff if isinstance(error, httpx.TransportError) else None

    def wait_or_raise(self, attempt: int, error: BaseException) -> float:
        """The wait before the next try, or the final error raised: after the last try of a retryable
        status, one that says how often it was tried."""
        delay = self.delay(attempt, error)
        if delay is not None:
            return delay
        if isinstance(error, ServerResponseError) and self.retryable(error.status_code) and attempt:
            raise ServerResponseError(
                f"{error} (after {attempt + 1} tries)", error.status_code, error.retry_after
            ) from error
        raise error


def server_message(response: httpx.Response) -> str:
    """The server's own words: FastAPI's {"detail"}, OpenAI's {"error": {"message"}}, vLLM's {"message"}."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        for found in (data.get("detail"), error, data.get("message")):
            if found:
                return str(found)
    return response.text[:500]


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return min(max(float(response.headers.get("retry-after", "")), 0.0), MAX_RETRY_AFTER)
    except ValueError:  # absent, or an HTTP date
        return None


def read_answer(response: httpx.Response) -> object:
    """The JSON body of a successful answer; a ServerResponseError naming the call otherwise."""
    where = f"{response.request.method} {response.request.url}"
    if response.status_code >= 400:
        raise ServerResponseError(
            f"{where} -> {response.status_code}: {server_message(response)}",
            response.status_code,
            _retry_after(response),
        )
    try:
        return response.json()
    except ValueError:
        raise ServerResponseError(
            f"{where} answered {response.status_code} with non-JSON: {response.text[:200]!r}", response.status_code
        ) from None
