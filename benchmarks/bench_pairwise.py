"""Pairwise preference ranking: rewardkit's batched tournaments vs the loop users write by hand.

The hand-written loop is what RLHFlow's example code does for each comparison: tokenize the filled
template, run the causal LM on one sequence, take the full-vocabulary logits at the last position,
softmax the "A"/"B" entries; both orders, one after the other. rewardkit sends every comparison of a
tournament round as one batch and computes only the two LM-head rows it reads.

The model has SmolLM2-135M's shape with random weights (the preferences are meaningless, the cost
is real); the tokenizer is SmolLM2's real one; candidates are real AlpacaEval answers to the same
instruction from different generators. Both contenders must agree on every probability.

    python benchmarks/bench_pairwise.py --instructions 3 --candidates 8 --chars 300
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_model import SMOLLM2_SHAPE, TINY_SHAPE, build_checkpoint
from shared_data import SHARED_DATA, require

DATA = SHARED_DATA / "alpaca_eval"


def candidate_sets(instructions: int, candidates: int, chars: int) -> list[tuple[str, list[str]]]:
    """(instruction, answers from `candidates` different generators), answers cut to `chars`."""
    by_instruction: dict[str, list[str]] = {}
    for path in sorted(require(DATA, "AlpacaEval annotation files", option=None).glob("*.json.gz"))[:candidates]:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for row in json.load(f):
                by_instruction.setdefault(row["instruction"], []).append(row["output_2"][:chars])
    full = [(k, v) for k, v in by_instruction.items() if len(v) == candidates and len(k) < 400]
    return full[:instructions]


class HandLoop:
    """One sequence per forward, full logits, both orders sequentially."""

    def __init__(self, path: Path, template: str) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        self.template = template
        self.a, self.b = (self.tok.encode(t, add_special_tokens=False)[0] for t in ("A", "B"))

    def p_first(self, instruction: str, first: str, second: str) -> float:
        context = f"\n\n\n<turn> user\n {instruction}\n\n\n"  # RLHFlow's plain context layout
        text = self.template.format(context=context, response_a=first, response_b=second)
        rendered = self.tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False)
        ids = self.tok.encode(rendered.replace(self.tok.bos_token, ""), add_special_tokens=False)
        with self.torch.no_grad():
            logits = self.model(input_ids=self.torch.tensor([ids])).logits[0, -1]
        return float(self.torch.softmax(logits[[self.a, self.b]], dim=-1)[0])

    def compare(self, pairs: list[tuple[int, int]], context: str, answers: list[str]) -> list[float]:
        out = []
        for i, j in pairs:
            p_ij, p_ji = self.p_first(context, answers[i], answers[j]), self.p_first(context, answers[j], answers[i])
            out.append((p_ij + 1 - p_ji) / 2)
        return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from rewardkit import RewardModel
    from rewardkit.config import PAIRWISE_TEMPLATE
    from rewardkit.selection.ranking import plan, run_plan

    shape = TINY_SHAPE if args.tiny else SMOLLM2_SHAPE
    path = Path(
        args.model_dir
        or Path.home() / ".cache/rewardkit/bench" / f"smollm2-shape-causal-{'tiny' if args.tiny else 'full'}"
    )
    if not path.exists():
        build_checkpoint(path, dtype="float32", shape=shape, causal_lm=True)
    rk = RewardModel.load(path, pairwise=True, dtype="float32", device="cpu", max_batch_tokens=args.max_batch_tokens)
    hand = HandLoop(path, PAIRWISE_TEMPLATE)
    sets = candidate_sets(args.instructions, args.candidates, args.chars)
    rows = []
    for method in ("knockout", "round_robin"):
        for context, answers in sets:
            for repeat in range(args.repeats):
                t0 = time.perf_counter()
                ours = rk.rank(answers, prompt=context, method=method)
                t1 = time.perf_counter()
                theirs = run_plan(
                    plan(method, len(answers)), lambda pairs, c=context, a=answers: hand.compare(pairs, c, a)
                )
                t2 = time.perf_counter()
                worst = (
                    max(abs(m.p_i_wins - n.p_i_wins) for m, n in zip(ours.matches, theirs.matches))
                    if ours.matches
                    else 0.0
                )
                rows.append(
                    {
                        "method": method,
                        "repeat": repeat,
                        "comparisons": ours.comparisons,
                        "rewardkit_s": t1 - t0,
                        "hand_loop_s": t2 - t1,
                        "max_abs_diff": worst,
                        "same_order": ours.order == theirs.order,
                    }
                )
    summary = {}
    for method in ("knockout", "round_robin"):
        mine = [r for r in rows if r["method"] == method]
        rk_s = statistics.median(r["rewardkit_s"] for r in mine)
        hand_s = statistics.median(r["hand_loop_s"] for r in mine)
        summary[method] = {
            "comparisons": mine[0]["comparisons"],
            "rewardkit_median_s": round(rk_s, 3),
            "hand_loop_median_s": round(hand_s, 3),
            "speedup": round(hand_s / rk_s, 2),
            "max_abs_diff": max(r["max_abs_diff"] for r in mine),
            "same_order_everywhere": all(r["same_order"] for r in mine),
        }
    return {"args": vars(args), "summary": summary, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instructions", type=int, default=3, help="AlpacaEval instructions to rank answers for")
    parser.add_argument("--candidates", type=int, default=8, help="answers per instruction (one per generator)")
    parser.add_argument("--chars", type=int, default=300, help="answers are cut to this many characters")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--max-batch-tokens", type=int, default=8192)
    parser.add_argument("--tiny", action="store_true", help="a 2-layer model (smoke run), not SmolLM2's shape")
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--out", default=None, help="write the JSON here too")
    args = parser.parse_args()
    result = run(args)
    text = json.dumps(result["summary"], indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
