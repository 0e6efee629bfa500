"""Checks shared by the format tests: varied real inputs, and scoring them in many batch
compositions against per-sequence references."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import tiny_models

TOL = 1e-4
BUDGETS = (40, 300, 100_000)  # padded tokens per batch: alone, small batches, one big batch


def varied_texts(n: int = 14, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts = tiny_models.hh_texts(60)
    return [texts[rng.randrange(len(texts))][: rng.randint(3, 350)] for _ in range(n)]


def assert_batch_independent(
    model: Any,
    inputs: Sequence[Any],
    expected: Sequence[Any],
    score: Callable[[list[Any]], list[Any]] | None = None,
) -> None:
    """Score ``inputs`` shuffled under several batch budgets; each result must equal its reference.

    ``score`` maps a list of inputs to comparable values (default: ``model.score``)."""
    score = score or model.score
    rng = random.Random(1)
    for budget in BUDGETS:
        model.max_batch_tokens = budget
        order = list(range(len(inputs)))
        rng.shuffle(order)
        got = score([inputs[i] for i in order])
        for position, i in enumerate(order):
            assert got[position] == pytest.approx(expected[i], abs=TOL), (budget, str(inputs[i])[:40])
