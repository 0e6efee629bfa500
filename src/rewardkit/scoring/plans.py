"""What every front end can be asked, written once as plans over scoring steps.

Each function returns a plan (`rewardkit.plan`): it yields ScoreTexts / ScoreConversations /
ComparePairs steps and returns the answer to the caller. A pointwise model ranks by reward; a
pairwise preference model plays a tournament whose rounds are batches of comparisons; best-of-N
follows whichever applies. The front ends only drive these plans (`scoring/front.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

from rewardkit.errors import TooManyItemsError
from rewardkit.plan import Plan, translate
from rewardkit.scoring import pairwise as judge
from rewardkit.scoring.pairwise import PairQuestion
from rewardkit.scoring.steps import ComparePairs, ScoreConversations, ScoreTexts
from rewardkit.selection.best_of_n import BestOfN, best_of_n
from rewardkit.selection.ranking import Ranking, by_scores
from rewardkit.types import Conversation, ScoreResult

__all__ = [
    "best_of_n_plan",
    "compare_plan",
    "prefer_plan",
    "rank_plan",
    "reference_plan",
    "results_plan",
    "rewards_plan",
    "unique_texts",
]

REFERENCE_CHUNK = 256


def results_plan(step: ScoreTexts | ScoreConversations) -> Plan[list[ScoreResult]]:
    """Full results for one scoring step."""
    return (yield step)


def rewards_plan(step: ScoreTexts | ScoreConversations) -> Plan[list[float]]:
    """Just the rewards."""
    return [r.score for r in (yield step)]


def prefer_plan(questions: Sequence[PairQuestion]) -> Plan[list[float]]:
    """P(first better) per question, both orders averaged (pairwise models)."""
    return _averaged((yield ComparePairs(questions)))


def _averaged(orders: Sequence[tuple[float, float]]) -> list[float]:
    """A ComparePairs answer -> P(first better) per question, position bias averaged out."""
    return [judge.both_orders(*order) for order in orders]


def compare_plan(
    pairwise: bool, responses: Sequence[str], prompt: str | None, messages: Conversation | None
) -> Plan[judge.Comparison]:
    """P(responses[0] better than responses[1]): a pairwise model averaged over both orders, or the
    sigmoid of the reward gap."""
    responses = judge.check_responses(responses, pair=True)
    if pairwise:
        [order] = yield ComparePairs([PairQuestion(judge.render_context(prompt, messages), *responses)])
        return judge.comparison(p_first=order)
    results = yield ScoreConversations(judge.pointwise_conversations(responses, prompt, messages))
    return judge.comparison(scores=[r.score for r in results])


def rank_plan(
    pairwise: bool,
    responses: Sequence[str],
    prompt: str | None,
    messages: Conversation | None,
    method: str = "knockout",
    max_sequences: int | None = None,
    objective: str | None = None,
) -> Plan[Ranking]:
    """Best first: by reward, or by a knockout / round-robin tournament for a pairwise model.
    Pointwise: identical candidates are scored once (`unique_texts`) and exact ties go to the
    earlier candidate, the rule best-of-N follows too.

    ``max_sequences`` is the most sequences one step may carry (a server's queue): a tournament
    whose largest round would exceed it is refused before any work."""
    responses = judge.check_responses(responses)
    if not pairwise:
        results = yield from _pointwise_results(responses, prompt, messages, objective)
        return by_scores([r.score for r in results])
    context = judge.render_context(prompt, messages)
    tournament = judge.tournament(method, len(responses))
    n = len(responses)
    largest_round = n * (n - 1) if method == "round_robin" else 2 * (n // 2)
    if max_sequences is not None and largest_round > max_sequences:
        raise TooManyItemsError(
            f"{method} over {n} responses sends {largest_round} sequences at once, more than --max-queue "
            f"({max_sequences}); use knockout, fewer responses, or a larger --max-queue"
        )

    def questions(pairs: list[tuple[int, int]]) -> ComparePairs:
        return ComparePairs([PairQuestion(context, responses[i], responses[j]) for i, j in pairs])

    return (yield from translate(tournament, questions, lambda pairs, orders: _averaged(orders)))


def unique_texts(texts: Sequence[str]) -> tuple[list[str], list[int]]:
    """Each distinct text once, and where each input sits in that list. Identical candidates are
    scored once and share the score, so they tie exactly (two forwards can differ by float noise)."""
    position: dict[str, int] = {}
    index = [position.setdefault(text, len(position)) for text in texts]
    return list(position), index


def _pointwise_results(
    candidates: Sequence[str], prompt: str | None, messages: Conversation | None, objective: str | None
) -> Plan[list[ScoreResult]]:
    """Each candidate's result as the answer to the context, identical candidates scored once."""
    unique, index = unique_texts(candidates)
    found = yield ScoreConversations(judge.pointwise_conversations(unique, prompt, messages), objective)
    return [found[i] for i in index]


def best_of_n_plan(
    pairwise: bool,
    candidates: Sequence[str],
    prompt: str | None,
    messages: Conversation | None,
    objective: str | None = None,
    method: str = "knockout",
    max_sequences: int | None = None,
) -> Plan[BestOfN]:
    """Score a whole group and pick the best (exact ties go to the earlier candidate); a pairwise
    model's pick follows its tournament. Each ensemble member's scores come along."""
    candidates = judge.check_responses(candidates)
    if pairwise:
        ranking = yield from rank_plan(True, candidates, prompt, messages, method, max_sequences, objective)
        return BestOfN(order=list(ranking.order), scores=list(ranking.scores), method=ranking.method)
    results = yield from _pointwise_results(candidates, prompt, messages, objective)
    pick = best_of_n([r.score for r in results])
    members = {name: [r.members[name] for r in results] for name in results[0].members}
    return BestOfN(order=pick.order, scores=pick.scores, members=members)


def reference_plan(texts: Sequence[str], conversations: Sequence[Conversation]) -> Plan[list[float]]:
    """Rewards for an ensemble's standardization reference set, in chunks, so that a large set never
    exceeds a member's queue or request size."""
    scores: list[float] = []
    for start in range(0, len(texts), REFERENCE_CHUNK):
        scores += yield from rewards_plan(ScoreTexts(texts[start : start + REFERENCE_CHUNK]))
    for start in range(0, len(conversations), REFERENCE_CHUNK):
        scores += yield from rewards_plan(ScoreConversations(conversations[start : start + REFERENCE_CHUNK]))
    return scores
