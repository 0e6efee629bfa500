"""rewardkit's one exception tree.

    RewardKitError
    ├── InvalidInputError        the caller sent something unusable (HTTP 4xx); never reaches a model
    │   ├── InputTooLongError    over --max-length with --truncation error
    │   ├── TooManyItemsError    one request holds more sequences than the queue can ever take
    │   ├── EmptyInputError      nothing to score where TEI's clients expect a 400 "Empty"
    │   └── ModelNotFoundError   the request names a model this server does not serve (HTTP 404)
    ├── ModelLoadError           a checkpoint cannot be loaded: names what was found and what is supported
    ├── EngineError              the serving engine could not produce a score
    │   ├── QueueFullError       back-pressure: retry after a moment (HTTP 503 + Retry-After)
    │   ├── EngineDeadError      the worker died; the engine no longer serves (HTTP 503)
    │   ├── BatchFailedError     the model raised on the batch holding this item (HTTP 500)
    │   ├── ModelOutputError     the model returned NaN/inf for this item (HTTP 500)
    │   ├── MemberFailedError    an ensemble member served by another server failed (HTTP 502)
    │   ├── RuleFailedError      a reward function raised, timed out or returned a non-number (HTTP 500)
    │   └── RulesUnavailableError no reward-function worker can start: retry later (HTTP 503 + Retry-After)
    └── ServerResponseError      raised by the clients when a server answers with an error

Third-party exceptions are translated into these at one boundary each (loading, the runner, the
HTTP client) with ``raise ... from exc`` so that the original stays visible.
"""

from __future__ import annotations

__all__ = [
    "BatchFailedError",
    "EmptyInputError",
    "EngineDeadError",
    "EngineError",
    "InputTooLongError",
    "InvalidInputError",
    "MemberFailedError",
    "ModelLoadError",
    "ModelNotFoundError",
    "ModelOutputError",
    "QueueFullError",
    "RewardKitError",
    "RuleFailedError",
    "RulesUnavailableError",
    "ServerResponseError",
    "TooManyItemsError",
    "whole_seconds",
]


class RewardKitError(Exception):
    """Base of every error rewardkit raises on purpose."""


class InvalidInputError(RewardKitError, ValueError):
    """The input cannot be scored as given; the message says how to fix it."""


class InputTooLongError(InvalidInputError):
    """An input is longer than the model's maximum length and truncation is set to 'error'."""


class TooManyItemsError(InvalidInputError):
    """A single request has more sequences than --max-queue; it must be split."""


class EmptyInputError(InvalidInputError):
    """A request with nothing to score, on a route whose clients expect HTTP 400 for it (TEI's)."""


class ModelNotFoundError(InvalidInputError):
    """The request names a model this server does not serve, or needs a model and none is served."""


class ModelLoadError(RewardKitError):
    """A checkpoint could not be loaded or its format is not supported."""


class EngineError(RewardKitError):
    """The engine could not produce a score for an item."""


def whole_seconds(seconds: float) -> int:
    """A wait as the Retry-After header carries it (and messages quote it): whole seconds, at least 1."""
    return max(1, round(seconds))


class QueueFullError(EngineError):
    """The engine's queue is full; the caller should retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EngineDeadError(EngineError):
    """The engine's worker has died; nothing more will be scored by this process."""


class BatchFailedError(EngineError):
    """The model raised while scoring the batch that held this item."""


class ModelOutputError(EngineError):
    """The model produced a non-finite score."""


class ServerResponseError(RewardKitError):
    """A rewardkit (or compatible) server answered with an error status."""

    def __init__(self, message: str, status_code: int, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


class MemberFailedError(EngineError):
    """An ensemble member served by another server did not answer with scores."""


class RuleFailedError(EngineError):
    """A reward function served beside the model failed on an item: it raised, returned a non-number,
    or ran past --reward-fn-timeout."""


class RulesUnavailableError(EngineError):
    """No reward-function worker can run: every one is gone and starting a replacement keeps failing.
    The server keeps trying; the caller should retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
