"""Rank N candidates with a pairwise comparator that returns P(i better than j).

Comparisons are expensive (each one is a model call) and are batched, so every algorithm is a *plan*: a generator
that yields one whole round of pairs, is sent back one probability per pair, and finally returns a `Ranking`.
`run_plan` and `run_plan_async` drive a plan against a sync or async comparator (the drivers of `rewardkit.plan`), so
no algorithm is written twice; the scoring core drives the same plans against a model.

Two plans are offered:

* `knockout`: a single-elimination bracket, n-1 comparisons in about log2(n) rounds. Linear cost, which is the
  recommended way to use RLHFlow-style pairwise preference models for Best-of-N.
* `round_robin`: all n(n-1)/2 pairs in one round, scored by a ridge-regularised Bradley-Terry fit on the soft
  outcomes. Quadratic cost, but it uses every comparison and gives a full, calibrated ordering.

Everything is pure Python and deterministic (ties are always broken towards the lower index).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

from rewardkit.plan import drive, drive_async

__all__ = [
    "METHODS",
    "Match",
    "Pair",
    "Plan",
    "Ranking",
    "bradley_terry",
    "by_scores",
    "knockout",
    "plan",
    "round_robin",
    "run_plan",
    "run_plan_async",
]

Pair = tuple[int, int]
METHODS = ("knockout", "round_robin")


@dataclass(frozen=True)
class Match:
    """One comparison as it was played: P(i beats j) and who was declared the winner."""

    i: int
    j: int
    p_i_wins: float
    winner: int


@dataclass(frozen=True)
class Ranking:
    """The result of a plan: an order (best first), per-candidate scores in input order, and the evidence."""

    method: str
    order: list[int]
    scores: list[float]
    best: int
    comparisons: int
    matches: list[Match]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict, for logs and HTTP responses."""
        return {
            "method": self.method,
            "order": list(self.order),
            "scores": [float(s) for s in self.scores],
            "best": self.best,
            "comparisons": self.comparisons,
            "matches": [{"i": m.i, "j": m.j, "p_i_wins": m.p_i_wins, "winner": m.winner} for m in self.matches],
        }


# Yields a round of pairs, is sent P(first beats second) for each pair, returns the Ranking.
Plan = Generator[list[Pair], list[float], Ranking]


# --------------------------------------------------------------------------------------------------- validation


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"number of candidates must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"need at least 1 candidate to rank, got n={n}")


def _as_probability(x: object) -> float | None:
    """`x` as a float in [0, 1], or None if it is not a finite real number in that range."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        return None
    p = float(x)
    return p if math.isfinite(p) and 0.0 <= p <= 1.0 else None


def _short(x: object, limit: int = 200) -> str:
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _probabilities(pairs: list[Pair], values: object, source: str) -> list[float]:
    """Check that `values` holds exactly one probability per pair; name what came back if not."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"{source} must be a list of {len(pairs)} probabilities, got {_short(values)}")
    if len(values) != len(pairs):
        raise ValueError(f"{source} {len(values)} probabilities for {len(pairs)} pairs: {_short(values)}")
    out = []
    for pair, v in zip(pairs, values):
        p = _as_probability(v)
        if p is None:
            raise ValueError(f"{source} {_short(v)} for pair {pair}; need a finite number in [0, 1]")
        out.append(p)
    return out


def _winner(i: int, j: int, p_i_wins: float) -> int:
    """i if p > 0.5, j if p < 0.5; an exact tie goes to the lower index so results are reproducible."""
    if p_i_wins > 0.5:
        return i
    if p_i_wins < 0.5:
        return j
    return min(i, j)


# -------------------------------------------------------------------------------------------------------- plans


def knockout(n: int) -> Plan:
    """Single-elimination bracket: n-1 comparisons, one yielded round per bracket level.

    Each round pairs the survivors in order (1st vs 2nd, 3rd vs 4th, ...); with an odd count the last one gets a
    bye. Scores are matches won (byes do not count). Order: champion, then more wins, then the loser who came
    closest to winning the match they lost, then lower index.
    """
    _check_n(n)
    return _knockout(n)


def _knockout(n: int) -> Plan:
    alive = list(range(n))
    wins = [0] * n
    lost_with: dict[int, float] = {}  # candidate -> its own probability of winning the match it lost
    matches: list[Match] = []
    while len(alive) > 1:
        pairs = [(alive[k], alive[k + 1]) for k in range(0, len(alive) - 1, 2)]
        sent = yield pairs
        probs = _probabilities(pairs, sent, "knockout plan was sent")
        survivors = []
        for (i, j), p in zip(pairs, probs):
            w = _winner(i, j, p)
            loser = j if w == i else i
            wins[w] += 1
            lost_with[loser] = p if loser == i else 1.0 - p
            matches.append(Match(i, j, p, w))
            survivors.append(w)
        if len(alive) % 2:
            survivors.append(alive[-1])  # bye
        alive = survivors
    champion = alive[0]
    rest = sorted((c for c in range(n) if c != champion), key=lambda c: (-wins[c], -lost_with[c], c))
    return Ranking(
        method="knockout",
        order=[champion, *rest],
        scores=[float(w) for w in wins],
        best=champion,
        comparisons=len(matches),
        matches=matches,
    )


def round_robin(n: int, *, l2: float = 0.01) -> Plan:
    """Every pair once, in a single round, scored by a Bradley-Terry fit on the soft outcomes.

    Costs n(n-1)/2 comparisons but uses all of them: scores are centred log-strengths, so score differences are
    log-odds of one candidate beating another. `l2` is the ridge of `bradley_terry`.
    """
    _check_n(n)
    _check_l2(l2)
    return _round_robin(n, l2)


def _round_robin(n: int, l2: float) -> Plan:
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    probs: list[float] = []
    if pairs:
        sent = yield pairs
        probs = _probabilities(pairs, sent, "round_robin plan was sent")
    scores = bradley_terry(n, [(i, j, p) for (i, j), p in zip(pairs, probs)], l2=l2)
    # Rounding makes float noise from the fit count as a tie, so ties really do go to the lower index.
    order = sorted(range(n), key=lambda c: (-round(scores[c], 9), c))
    return Ranking(
        method="round_robin",
        order=order,
        scores=scores,
        best=order[0],
        comparisons=len(pairs),
        matches=[Match(i, j, p, _winner(i, j, p)) for (i, j), p in zip(pairs, probs)],
    )


def by_scores(scores: Sequence[float]) -> Ranking:
    """The ranking a pointwise reward model gives: highest score first, ties to the lower index."""
    _check_n(len(scores))
    order = sorted(range(len(scores)), key=lambda c: (-scores[c], c))
    return Ranking(method="scores", order=order, scores=list(scores), best=order[0], comparisons=0, matches=[])


def plan(method: str, n: int) -> Plan:
    """Build the plan named `method` (one of `METHODS`) for n candidates."""
    if method == "knockout":
        return knockout(n)
    if method == "round_robin":
        return round_robin(n)
    raise ValueError(f"unknown ranking method {method!r}; choose one of: {', '.join(METHODS)}")


# ------------------------------------------------------------------------------------------------------ drivers


def run_plan(plan: Plan, compare: Callable[[list[Pair]], list[float]]) -> Ranking:
    """Drive `plan` with a synchronous batched comparator: one `compare` call per round."""
    return drive(plan, lambda pairs: _probabilities(pairs, compare(list(pairs)), "comparator returned"))


async def run_plan_async(plan: Plan, compare: Callable[[list[Pair]], Awaitable[list[float]]]) -> Ranking:
    """Drive `plan` with an async batched comparator: one awaited `compare` call per round."""

    async def checked(pairs: list[Pair]) -> list[float]:
        return _probabilities(pairs, await compare(list(pairs)), "comparator returned")

    return await drive_async(plan, checked)


# ------------------------------------------------------------------------------------------------ Bradley-Terry


def _check_l2(l2: float) -> None:
    if isinstance(l2, bool) or not isinstance(l2, numbers.Real) or not (math.isfinite(l2) and l2 > 0):
        raise ValueError(f"l2 must be a finite number > 0 (it keeps the fit finite), got {l2!r}")


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def _objective(s: list[float], data: list[tuple[int, int, float]], l2: float) -> float:
    total = 0.0
    for i, j, p in data:
        d = s[i] - s[j]
        total += p * _log_sigmoid(d) + (1.0 - p) * _log_sigmoid(-d)
    return total - 0.5 * l2 * sum(x * x for x in s)


def _solve_spd(a: list[list[float]], b: list[float]) -> list[float]:
    """Solve a x = b for symmetric positive definite `a` by Cholesky (n is a few dozen at most)."""
    n = len(b)
    low = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            acc = a[i][j] - sum(low[i][k] * low[j][k] for k in range(j))
            if i == j:
                if not acc > 0:
                    raise ArithmeticError("Bradley-Terry Hessian is not positive definite; increase l2")
                low[i][i] = math.sqrt(acc)
            else:
                low[i][j] = acc / low[j][j]
    y = [0.0] * n
    for i in range(n):
        y[i] = (b[i] - sum(low[i][k] * y[k] for k in range(i))) / low[i][i]
    x = [0.0] * n
    for i in reversed(range(n)):
        x[i] = (y[i] - sum(low[k][i] * x[k] for k in range(i + 1, n))) / low[i][i]
    return x


def bradley_terry(
    n: int,
    outcomes: Sequence[tuple[int, int, float]],
    *,
    l2: float = 0.01,
    tol: float = 1e-10,
    max_iter: int = 200,
) -> list[float]:
    """Ridge-regularised Bradley-Terry log-strengths from soft pairwise outcomes, centred to mean 0.

    Each outcome (i, j, p) means i beat j with probability p: i gets p wins and j gets 1-p. Maximises
    sum p*log sigmoid(s_i - s_j) + (1-p)*log sigmoid(s_j - s_i) - l2/2 * |s|^2 with damped Newton steps. The
    ridge (l2 > 0) keeps strengths finite when a candidate wins every match, and makes the problem strictly
    concave, so the answer is unique and the same on every run.
    """
    _check_n(n)
    _check_l2(l2)
    if not (isinstance(tol, numbers.Real) and tol > 0):
        raise ValueError(f"tol must be > 0, got {tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be an int >= 1, got {max_iter!r}")

    data: list[tuple[int, int, float]] = []
    for k, outcome in enumerate(outcomes):
        try:
            i, j, raw = outcome
        except (TypeError, ValueError):
            raise ValueError(f"outcome #{k} {_short(outcome)} is not an (i, j, p) triple") from None
        if not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < n for x in (i, j)) or i == j:
            raise ValueError(f"outcome #{k} {_short(outcome)}: i and j must be distinct ints in [0, {n})")
        p = _as_probability(raw)
        if p is None:
            raise ValueError(f"outcome #{k} {_short(outcome)}: p must be a finite number in [0, 1]")
        data.append((i, j, p))

    s = [0.0] * n
    f = _objective(s, data, l2)
    for _ in range(max_iter):
        # Gradient g and negative Hessian a (graph Laplacian weighted by sigma'(d), plus l2 * I).
        g = [-l2 * x for x in s]
        a = [[0.0] * n for _ in range(n)]
        for i in range(n):
            a[i][i] = l2
        for i, j, p in data:
            q = _sigmoid(s[i] - s[j])
            r = p - q
            g[i] += r
            g[j] -= r
            w = q * (1.0 - q)
            a[i][i] += w
            a[j][j] += w
            a[i][j] -= w
            a[j][i] -= w
        step = _solve_spd(a, g)
        decrement = sum(gi * di for gi, di in zip(g, step))
        # Backtracking line search (Armijo); the slack absorbs round-off once we are at the optimum.
        t = 1.0
        while True:
            cand = [x + t * d for x, d in zip(s, step)]
            f_cand = _objective(cand, data, l2)
            if f_cand >= f + 1e-4 * t * decrement - 1e-12 * (1.0 + abs(f)):
                break
            t *= 0.5
            if t < 1e-12:
                break
        if t < 1e-12:
            break  # no further progress possible in floating point
        s, f = cand, f_cand
        # Converge on the centred step: the common mode is ill-conditioned for tiny l2 and is removed below anyway.
        mean_step = t * sum(step) / n
        if max(abs(t * d - mean_step) for d in step) <= tol:
            break
    mean = sum(s) / n
    return [x - mean for x in s]
