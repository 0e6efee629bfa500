"""The scoring core's plans and drivers, with a deterministic scorer in place of a model: the same
plan gives the same answer through the sync and the async front, every step a plan yields is one
the fronts can answer, and the device defaults come from one place. (The same fronts over real
tiny models: tests/integration/test_server.py, test_pairwise.py, test_ensemble_serving.py.)"""

from __future__ import annotations

import math

import pytest

from rewardkit.config import CPU_DEFAULTS, CUDA_DEFAULTS, EngineConfig
from rewardkit.errors import InvalidInputError, TooManyItemsError
from rewardkit.plan import drive, translate
from rewardkit.scoring.front import AsyncFront, SyncFront
from rewardkit.scoring.steps import ComparePairs, ScoreConversations, ScoreTexts
from rewardkit.types import ScoreResult

STRENGTH = {"great": 3.0, "good": 2.0, "fine": 1.0, "bad": -1.0}


def _reward(text: str) -> float:
    return STRENGTH.get(text, 0.0)


def _answer(step, pairwise: bool, log: list) -> list:
    """What a model would answer: a reward per response, or P(shown first is better) per order."""
    log.append(step)
    if isinstance(step, ComparePairs):
        assert pairwise
        sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
        return [
            (sigmoid(_reward(q.first) - _reward(q.second)), sigmoid(_reward(q.second) - _reward(q.first)))
            for q in step.questions
        ]
    assert not pairwise, "a pairwise model is never asked for rewards"
    texts = step.texts if isinstance(step, ScoreTexts) else [c[-1]["content"] for c in step.conversations]
    return [ScoreResult(score=_reward(t), num_tokens=len(t)) for t in texts]


class Sync(SyncFront):
    def __init__(self, pairwise: bool = False, max_sequences: int | None = None) -> None:
        self.pairwise = object() if pairwise else None
        self.max_sequences = max_sequences
        self.steps: list = []

    def execute(self, step, progress=False):
        return _answer(step, self.pairwise is not None, self.steps)


class Async(AsyncFront):
    def __init__(self, pairwise: bool = False, max_sequences: int | None = None) -> None:
        self.pairwise = object() if pairwise else None
        self.max_sequences = max_sequences
        self.steps: list = []

    async def execute(self, step, progress=False):
        return _answer(step, self.pairwise is not None, self.steps)


CANDIDATES = ["fine", "great", "bad", "good", "great"]
CALLS = [
    ("score", (["good", "bad"],), {}),
    ("score_results", (["good", "bad"],), {}),
    ("score", ([[{"role": "user", "content": "q"}, {"role": "assistant", "content": "good"}]],), {}),
    ("score_results", ([[{"role": "user", "content": "q"}, {"role": "assistant", "content": "good"}]],), {}),
    ("score", ([],), {}),
    ("compare", (["good", "bad"],), {"prompt": "q"}),
    ("rank", (CANDIDATES,), {"prompt": "q"}),
    ("best_of_n", (CANDIDATES,), {"prompt": "q"}),
]


CASES = [(False, *call) for call in CALLS] + [(True, *call) for call in CALLS if not call[0].startswith("score")]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("pairwise", "method", "args", "kwargs"),
    CASES,
    ids=[f"{'pairwise' if c[0] else 'pointwise'}-{c[1]}" for c in CASES],
)
async def test_sync_and_async_fronts_answer_the_same(pairwise, method, args, kwargs):
    sync, asynchronous = Sync(pairwise), Async(pairwise)
    assert getattr(sync, method)(*args, **kwargs) == await getattr(asynchronous, method)(*args, **kwargs)
    assert sync.steps == asynchronous.steps


def test_best_of_n_scores_each_distinct_candidate_once_and_ties_go_to_the_first():
    front = Sync()
    pick = front.best_of_n(CANDIDATES, prompt="q")
    assert pick.best == 1 and pick.order[:2] == [1, 4]
    [step] = front.steps
    assert isinstance(step, ScoreConversations) and len(step.conversations) == 4


def test_a_pairwise_tournament_sends_whole_rounds_as_one_step():
    front = Sync(pairwise=True)
    ranking = front.rank(CANDIDATES, prompt="q", method="knockout")
    assert CANDIDATES[ranking.best] == "great"
    assert [len(s.questions) for s in front.steps] == [2, 1, 1]  # 5 candidates: 2 matches, then 1, then 1
    assert all(isinstance(s, ComparePairs) for s in front.steps)


def test_a_tournament_larger_than_the_queue_is_refused_before_any_work():
    front = Sync(pairwise=True, max_sequences=10)
    with pytest.raises(TooManyItemsError, match="round_robin over 5 responses sends 20 sequences"):
        front.rank(CANDIDATES, prompt="q", method="round_robin")
    assert front.steps == []


def test_translate_passes_each_inner_step_and_answer_through():
    def inner():
        first = yield "a"
        second = yield first + "b"
        return second + "!"

    seen = []

    def answer(step):
        seen.append(step)
        return step.upper()

    plan = translate(inner(), step=lambda s: f"<{s}>", answer=lambda s, outer: outer.strip("<>"))
    assert drive(plan, answer) == "AB!"
    assert seen == ["<a>", "<Ab>"]


@pytest.mark.parametrize(("device", "defaults"), [("cpu", CPU_DEFAULTS), ("cuda:0", CUDA_DEFAULTS)])
def test_engine_defaults_by_device_come_from_one_place(device, defaults):
    filled = EngineConfig(max_batch_size=32).for_device(device)
    assert filled.max_batch_tokens == defaults["max_batch_tokens"]
    assert filled.max_padding_ratio == defaults["max_padding_ratio"]
    expected_lookahead = defaults.get("lookahead") or defaults["lookahead_per_batch"] * 32
    assert filled.max_lookahead == expected_lookahead
    explicit = EngineConfig(max_batch_tokens=123, max_padding_ratio=0.0, max_lookahead=2).for_device(device)
    assert (explicit.max_batch_tokens, explicit.max_padding_ratio, explicit.max_lookahead) == (123, 0.0, 2)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ("one text", "wrap a single one in a list"),
        ([{"role": "user", "content": "q"}], "a single conversation goes in a list"),
        (["a text", [{"role": "user", "content": "q"}]], "mix full texts"),
        ([3], "not a int"),
    ],
)
def test_score_refuses_inputs_that_are_neither_texts_nor_conversations(inputs, message):
    with pytest.raises(InvalidInputError, match=message):
        Sync(False).score(inputs)
