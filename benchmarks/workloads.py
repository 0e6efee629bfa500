"""Real hh-rlhf dialogues -> the request bodies of each workload, identical for every contender.

Texts are cut to ``max_tokens`` here, keeping their END (where a reward model reads the score), so
that no contender truncates and all of them see exactly the same tokens. Each query's token count is
kept alongside so that tokens/s counts real tokens only.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["HH_PATH", "WORKLOADS", "Workload", "build_workloads", "load_dialogues"]

HH_PATH = Path(__file__).resolve().parents[2] / "shared" / "data" / "hh_rlhf_harmless_base_test.jsonl.gz"
ASSISTANT = "\n\nAssistant:"
WORKLOADS = ("online", "bulk", "bon", "grpo")
BON_GROUP = 8


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
    with gzip.open(path, "rt", encoding="utf-8") as handle:
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


def _texts(rows: list[dict[str, str]]) -> Iterator[str]:
    """chosen, rejected, chosen, rejected, ... forever (wrapping around the rows)."""
    while True:
        for row in rows:
            yield row["chosen"]
            yield row["rejected"]


def _bon_groups(rows: list[dict[str, str]], groups: int) -> list[list[str]]:
    """Each group: one dialogue's prompt + the chosen and rejected responses of it and its 3 next rows."""
    usable = [r for r in rows if ASSISTANT in r["chosen"] and ASSISTANT in r["rejected"]]
    out: list[list[str]] = []
    per_group = BON_GROUP // 2
    for g in range(groups):
        start = (g * per_group) % (len(usable) - per_group)
        block = usable[start : start + per_group]
        prompt = _prompt(block[0]["chosen"])
        out.append([prompt + _response(r[key]) for r in block for key in ("chosen", "rejected")])
    return out


def build_workloads(
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
    seed: int = 0,
    data: Path = HH_PATH,
) -> dict[str, Workload]:
    """The requested workloads, plus ``warmup`` (a few small requests to load kernels and caches)."""
    rows = load_dialogues(data, seed=seed)
    truncate = Truncator(tokenizer, max_tokens)
    texts = _texts(rows)
    plans: dict[str, tuple[int, list[list[str]]]] = {}
    # the online and bulk texts come from one stream, so the two workloads do not repeat each other
    if "online" in names:
        plans["online"] = (concurrency, [[next(texts)] for _ in range(online_requests)])
    if "bulk" in names:
        plans["bulk"] = (
            bulk_concurrency,
            [[next(texts) for _ in range(bulk_size)] for _ in range(bulk_requests)],
        )
    if "bon" in names:
        plans["bon"] = (bon_concurrency, _bon_groups(rows, bon_groups))
    if "grpo" in names:  # GRPO as OpenRLHF >= 0.11 sends it: each answer alone, a prompt's answers back to back
        groups = _bon_groups(rows[len(rows) // 2 :], grpo_groups)  # other dialogues than bon's
        plans["grpo"] = (grpo_concurrency, [[answer] for group in groups for answer in group])
    plans["warmup"] = (
        2,
        [[t] for t in (rows[-1]["chosen"], rows[-2]["chosen"])] + [[r["rejected"] for r in rows[-8:]]],
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
    return workloads
