"""Real hh-rlhf dialogues -> the request bodies of each workload, identical for every contender.

Texts are cut to ``max_tokens`` here, keeping their END (where a reward model reads the score), so
that no contender truncates and all of them see exactly the same tokens. Each query's token count is
kept alongside so that tokens/s counts real tokens only.
"""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared_data import SHARED_DATA, require

__all__ = ["HH_PATH", "WORKLOADS", "RowsExhausted", "Workload", "build_rounds", "build_workloads", "load_dialogues"]

HH_PATH = SHARED_DATA / "hh_rlhf_harmless_base_test.jsonl.gz"
ASSISTANT = "\n\nAssistant:"
WORKLOADS = ("online", "bulk", "bon", "grpo")
BON_GROUP = 8
WARMUP_ROWS = 8


@dataclass
class Workload:
    """The requests of one workload; ``tokens[i][j]`` is the token count of ``requests[i][j]``."""

    name: str
    concurrency: int
    requests: list[list[str]]
    tokens: list[list[int]] = field(default_factory=list)

    @property
    def num_queries(self) -> int:
        return sum(len(r) for r in self.requests)

    @property
    def num_tokens(self) -> int:
        return sum(sum(t) for t in self.tokens)

    def describe(self) -> str:
        sizes = sorted({len(r) for r in self.requests})
        return (
            f"{self.name}: {len(self.requests)} requests of {'/'.join(map(str, sizes))} queries "
            f"at concurrency {self.concurrency}, {self.num_queries} queries, {self.num_tokens} tokens"
        )


def load_dialogues(path: Path = HH_PATH, seed: int = 0) -> list[dict[str, str]]:
    """All rows, in a fixed shuffled order (the file's order groups similar topics)."""
    with gzip.open(require(path, "HH-RLHF harmless-base dialogues", option=None), "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    random.Random(seed).shuffle(rows)
    return rows


class Truncator:
    """Cuts texts to at most ``max_tokens`` tokens of the model's tokenizer, keeping the end."""

    def __init__(self, tokenizer: Any, max_tokens: int) -> None:
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.specials = len(tokenizer("")["input_ids"])  # tokens the tokenizer adds on its own (BOS, ...)

    def count(self, text: str) -> int:
        return len(self.tokenizer(text)["input_ids"])

    def cut(self, text: str) -> tuple[str, int]:
        """(text, its token count as the servers will see it)."""
        n = self.count(text)
        budget = self.max_tokens - self.specials
        while n > self.max_tokens:
            # decoding then re-encoding can merge or split tokens at the cut: tighten until it fits
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            text = self.tokenizer.decode(ids[-budget:])
            n = self.count(text)
            budget -= 1
        return text, n


def _response(dialogue: str) -> str:
    return dialogue[dialogue.rindex(ASSISTANT) + len(ASSISTANT) :]


def _prompt(dialogue: str) -> str:
    return dialogue[: dialogue.rindex(ASSISTANT) + len(ASSISTANT)]


class RowsExhausted(ValueError):
    """The data set has too few dialogues for the workloads and rounds asked for."""


class _Rows:
    """Hands out dialogues in order, each at most once, so no text (nor a text's prompt) recurs across
    workloads or rounds: a server that caches prefixes (vLLM) must compute every workload afresh."""

    def __init__(self, rows: list[dict[str, str]], reserved: int) -> None:
        self.rows = rows[: len(rows) - reserved]
        self.next = 0

    def take(self, n: int, what: str) -> list[dict[str, str]]:
        if self.next + n > len(self.rows):
            raise RowsExhausted(
                f"{what} needs {n} more dialogues but only {len(self.rows) - self.next} of {len(self.rows)} are left: "
                "ask for fewer requests, groups or repeats (each repeat draws its own texts)"
            )
        out = self.rows[self.next : self.next + n]
        self.next += n
        return out

    def take_usable(self, n: int, what: str) -> list[dict[str, str]]:
        """``n`` rows whose chosen and rejected texts both end with an assistant turn (skipped ones are used up)."""
        out: list[dict[str, str]] = []
        while len(out) < n:
            out += [r for r in self.take(n - len(out), what) if ASSISTANT in r["chosen"] and ASSISTANT in r["rejected"]]
        return out


def _texts(rows: list[dict[str, str]], n: int) -> list[str]:
    """chosen, rejected, chosen, rejected, ... of ``rows``, the first ``n``."""
    return [row[key] for row in rows for key in ("chosen", "rejected")][:n]


def _bon_groups(rows: list[dict[str, str]]) -> list[list[str]]:
    """Groups of 8 from blocks of 4 rows: the first row's prompt + the chosen and rejected responses of all 4."""
    per_group = BON_GROUP // 2
    out: list[list[str]] = []
    for start in range(0, len(rows) - per_group + 1, per_group):
        block = rows[start : start + per_group]
        prompt = _prompt(block[0]["chosen"])
        out.append([prompt + _response(r[key]) for r in block for key in ("chosen", "rejected")])
    return out


def build_rounds(
    tokenizer: Any,
    *,
    names: list[str],
    max_tokens: int,
    online_requests: int,
    concurrency: int,
    bulk_requests: int,
    bulk_size: int,
    bulk_concurrency: int,
    bon_groups: int,
    bon_concurrency: int,
    grpo_groups: int = 24,
    grpo_concurrency: int = 64,
    rounds: int = 1,
    seed: int = 0,
    data: Path = HH_PATH,
) -> list[dict[str, Workload]]:
    """The requested workloads ``rounds`` times over (one round per repeat), every workload of every round
    drawn from dialogues no other one uses; the first round also holds ``warmup`` (a few small requests,
    from dialogues of their own, to load kernels and caches)."""
    rows = load_dialogues(data, seed=seed)
    truncate = Truncator(tokenizer, max_tokens)
    warmup_rows = rows[-WARMUP_ROWS:]
    pool = _Rows(rows, reserved=WARMUP_ROWS)
    out: list[dict[str, Workload]] = []
    per_group = BON_GROUP // 2
    for r in range(rounds):
        plans: dict[str, tuple[int, list[list[str]]]] = {}
        where = f" (repeat {r + 1} of {rounds})" if rounds > 1 else ""
        # chosen and rejected of one dialogue share its prompt; both go to the same workload
        if "online" in names:
            texts = _texts(pool.take((online_requests + 1) // 2, "online" + where), online_requests)
            plans["online"] = (concurrency, [[t] for t in texts])
        if "bulk" in names:
            n = bulk_requests * bulk_size
            texts = _texts(pool.take((n + 1) // 2, "bulk" + where), n)
            plans["bulk"] = (bulk_concurrency, [texts[i : i + bulk_size] for i in range(0, n, bulk_size)])
        if "bon" in names:
            plans["bon"] = (bon_concurrency, _bon_groups(pool.take_usable(bon_groups * per_group, "bon" + where)))
        if "grpo" in names:  # GRPO as OpenRLHF >= 0.11 sends it: each answer alone, a prompt's answers back to back
            groups = _bon_groups(pool.take_usable(grpo_groups * per_group, "grpo" + where))
            plans["grpo"] = (grpo_concurrency, [[answer] for group in groups for answer in group])
        if r == 0:
            plans["warmup"] = (
                2,
                [[t] for t in (warmup_rows[-1]["chosen"], warmup_rows[-2]["chosen"])]
                + [[row["rejected"] for row in warmup_rows]],
            )
        workloads = {}
        for name, (conc, requests) in plans.items():
            cut = [[truncate.cut(t) for t in request] for request in requests]
            workloads[name] = Workload(
                name=name,
                concurrency=conc,
                requests=[[t for t, _ in request] for request in cut],
                tokens=[[n for _, n in request] for request in cut],
            )
        out.append(workloads)
    return out


def build_workloads(tokenizer: Any, **kwargs: Any) -> dict[str, Workload]:
    """One round of :func:`build_rounds` (the same texts as its first round), ``warmup`` included."""
    return build_rounds(tokenizer, **{**kwargs, "rounds": 1})[0]
