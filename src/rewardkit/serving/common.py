"""What every route does around the scoring call, whichever dialect it speaks: find the service,
hold a request to the item limits before any tokenizing, count truncations."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request

from rewardkit.errors import InputTooLongError, TooManyItemsError
from rewardkit.scoring.protocols import ScoringService
from rewardkit.types import ScoreResult

__all__ = ["count_truncated", "service_of", "within_limits"]


def service_of(request: Request) -> ScoringService:
    return request.app.state.service


def within_limits(request: Request, sizes: Sequence[int]) -> None:
    """--max-items-per-request and --max-chars-per-item, checked on the characters of each item
    before any tokenizing (HTTP 413)."""
    config = request.app.state.config
    if len(sizes) > config.max_items_per_request:
        raise TooManyItemsError(
            f"{len(sizes)} items in one request, more than --max-items-per-request ({config.max_items_per_request}); "
            "split the request, or raise --max-items-per-request"
        )
    longest = max(sizes, default=0)
    if longest > config.max_chars_per_item:
        raise InputTooLongError(
            f"item {list(sizes).index(longest)}: {longest} characters, more than --max-chars-per-item "
            f"({config.max_chars_per_item}); shorten it, or raise --max-chars-per-item"
        )


def count_truncated(request: Request, results: Sequence[ScoreResult]) -> None:
    n = sum(r.truncated for r in results)
    if n:
        request.app.state.metrics.truncated.inc(n)
