"""Process reward model traffic: rewardkit's `rlhflow-prm` and `math-shepherd` recipes vs the loops
their cards run, and vs a plain sequence classifier of the same backbone on the same tokens.

`--recipe rlhflow-prm`: the card's loop (RLHFlow's math-rm/prm_evaluate.py) scores a solution of n
steps with n forwards, one per prefix of the step conversation, each computing the logits of the
whole vocabulary at every position, and reads two of them at position -3.
`--recipe math-shepherd`: the card's loop (math-shepherd-mistral-7b-prm's snippet) runs one forward
per solution over question + " " + answer, the whole vocabulary's logits at every position, and
reads "+" and "-" at each step tag "ки".
rewardkit runs each solution once, packed with the other solutions of its question (their shared
prompt computed once), and applies the two LM head rows it reads at the step positions only. The
classifier contender reads the same token sequences with a linear `score` head at the last token
(rewardkit's hf-sequence-classification format, packed the same way): the floor a reader of n
positions per sequence is measured against.

Traffic: `--questions` questions, `--solutions` solutions each (8: a Best-of-N group), each of 5-10
steps cut from real hh-rlhf dialogue text. The models have SmolLM2-135M's shape (vocabulary 49,152)
with random weights (the scores are meaningless, the cost is real) and SmolLM2's real tokenizer.
For rlhflow-prm its ChatML template is written so that a turn ends at `<|im_end|>`, as Llama 3.1's
ends at `<|eot_id|>`, which is what makes the card's position -3 the one that predicts the
assistant's "+". For math-shepherd the tokenizer gets "ки" as one added token and adds a BOS, as
the Mistral tokenizer the card uses does (one id for the tag; `encode("+ -")[1:]` is "+" and "-");
the vocabulary is then 49,153. The recipe's step scores must equal the card loop's (max |diff|
reported).

    python benchmarks/bench_recipes.py --tiny --questions 2 --repeats 1      # a smoke run
    python benchmarks/bench_recipes.py --questions 6 --repeats 3 --out /tmp/prm.json
    python benchmarks/bench_recipes.py --recipe math-shepherd --questions 6 --repeats 3 --out /tmp/shepherd.json

Targets (PASS/FAIL in the output): at least 3x the card's loop; at most 1.2x the classifier's time.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_model import SMOLLM2_SHAPE, TINY_SHAPE, build_checkpoint

HH = Path(__file__).resolve().parents[1] / "tests" / "data" / "hh_rlhf_harmless_base_test.jsonl.gz"
TURN_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SEPARATOR = "\n\n"
STEP_TAG = "ки"


def sentences() -> list[str]:
    import gzip

    out = []
    with gzip.open(HH, "rt", encoding="utf-8") as f:
        for line in f:
            for part in (
                json.loads(line)["chosen"].replace("\n\nHuman:", "\n").replace("\n\nAssistant:", "\n").split("\n")
            ):
                part = " ".join(part.split())
                if 30 <= len(part) <= 200:
                    out.append(part)
    return out


def traffic(questions: int, solutions: int, recipe: str, seed: int = 0) -> list[tuple[str, list[str]]]:
    """(question, its solutions), each solution 5-10 steps: joined by the Deepseek-Data separator
    (rlhflow-prm), or each ending in the step tag, one a line (math-shepherd, as its data)."""
    rng = random.Random(seed)
    pool = sentences()
    out = []
    for _ in range(questions):
        question = " ".join(rng.sample(pool, 2))
        answers = []
        for _ in range(solutions):
            steps = [f"Step {k + 1}: {rng.choice(pool)}" for k in range(rng.randint(5, 10))]
            answers.append(
                "\n".join(f"{s} {STEP_TAG}" for s in steps) if recipe == "math-shepherd" else SEPARATOR.join(steps)
            )
        out.append((question, answers))
    return out


def step_count(answer: str, recipe: str) -> int:
    return answer.count(STEP_TAG) if recipe == "math-shepherd" else len(answer.split(SEPARATOR))


def step_turns(prompt: str, answer: str) -> list[dict[str, str]]:
    turns = []
    for k, step in enumerate(part.strip() for part in answer.split(SEPARATOR)):
        turns += [
            {"role": "user", "content": f"{prompt} {step}" if k == 0 else step},
            {"role": "assistant", "content": "+"},
        ]
    return turns


class CardLoop:
    """RLHFlow's prm_evaluate.py: one forward per prefix, full logits, position -3."""

    def __init__(self, path: Path, dtype: str = "float32") -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype)).eval()
        self.candidates = [self.tok.encode("+")[-1], self.tok.encode("-")[-1]]

    def steps(self, prompt: str, answer: str) -> list[float]:
        turns, scores = step_turns(prompt, answer), []
        for k in range(1, len(turns) // 2 + 1):
            out = self.tok.apply_chat_template(turns[: 2 * k], tokenize=True, return_dict=False)
            with self.torch.no_grad():
                logits = self.model(self.torch.tensor([list(out)])).logits[:, -3, self.candidates]
            scores.append(float(logits.float().softmax(dim=-1)[0, 0]))
        return scores


class ShepherdCardLoop:
    """math-shepherd-mistral-7b-prm's snippet: one forward over question + " " + answer, full
    logits, softmax over "+" and "-" (encode("+ -")[1:]) where the input is the step tag."""

    def __init__(self, path: Path, dtype: str = "float32") -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype)).eval()
        self.candidates = self.tok.encode("+ -")[1:]
        self.step_tag_id = self.tok.encode(STEP_TAG)[-1]

    def steps(self, prompt: str, answer: str) -> list[float]:
        input_id = self.torch.tensor([self.tok.encode(f"{prompt} {answer}")])
        with self.torch.no_grad():
            logits = self.model(input_id).logits[:, :, self.candidates]
        return logits.float().softmax(dim=-1)[:, :, 0][input_id == self.step_tag_id].tolist()


def shepherd_tokenizer() -> Any:
    """SmolLM2's tokenizer with the step tag as one added token and a BOS added to every encoding,
    as the Mistral tokenizer of math-shepherd-mistral-7b-prm has them."""
    from bench_model import smollm2_tokenizer
    from tokenizers import processors

    tok = smollm2_tokenizer()
    tok.add_tokens([STEP_TAG])
    bos = tok.bos_token
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", special_tokens=[(bos, tok.bos_token_id)]
    )
    return tok


def checkpoints(tiny: bool, recipe: str) -> tuple[Path, Path]:
    """(causal LM with the recipe's tokenizer, sequence classifier with the same), SmolLM2's shape,
    built once."""
    from transformers import AutoTokenizer

    shape = TINY_SHAPE if tiny else SMOLLM2_SHAPE
    root = Path.home() / ".cache/rewardkit/bench"
    size = "tiny" if tiny else "full"
    if recipe == "math-shepherd":
        causal, classifier = root / f"smollm2-shape-shepherd-{size}", root / f"smollm2-shape-shepherd-cls-{size}"
        if not (causal / "config.json").is_file():
            build_checkpoint(causal, dtype="float32", shape=shape, causal_lm=True, tokenizer=shepherd_tokenizer())
        if not (classifier / "config.json").is_file():
            build_checkpoint(classifier, dtype="float32", shape=shape, tokenizer=shepherd_tokenizer())
        return causal, classifier
    causal, classifier = root / f"smollm2-shape-prm-{size}", root / f"smollm2-shape-classifier-{size}"
    if not (causal / "config.json").is_file():
        build_checkpoint(causal, dtype="float32", shape=shape, causal_lm=True)
        tok = AutoTokenizer.from_pretrained(causal)
        tok.chat_template = TURN_TEMPLATE
        tok.save_pretrained(causal)
    if not (classifier / "config.json").is_file():
        build_checkpoint(classifier, dtype="float32", shape=shape)
    return causal, classifier


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from rewardkit import RewardModel

    torch.set_num_threads(args.threads)
    causal, classifier = checkpoints(args.tiny, args.recipe)
    prm = RewardModel.load(
        causal, recipe=args.recipe, dtype=args.dtype, device="cpu", max_batch_tokens=args.max_batch_tokens
    )
    plain = RewardModel.load(classifier, dtype=args.dtype, device="cpu", max_batch_tokens=args.max_batch_tokens)
    card = (ShepherdCardLoop if args.recipe == "math-shepherd" else CardLoop)(causal, args.dtype)
    groups = traffic(args.questions, args.solutions, args.recipe)
    conversations = [
        [[{"role": "user", "content": q}, {"role": "assistant", "content": a}] for a in answers]
        for q, answers in groups
    ]
    texts = [[prm.templater.render(c) for c in group] for group in conversations]  # the same token sequences
    prm.score_results(conversations[0][:1])  # warm-up: first-call allocations out of the figures
    plain.score_results(texts[0][:1])
    rows = []
    for repeat in range(args.repeats):
        t0 = time.perf_counter()
        ours = [prm.score_results(group) for group in conversations]  # one call per Best-of-N group
        t1 = time.perf_counter()
        for group in texts:
            plain.score_results(group)
        t2 = time.perf_counter()
        theirs = [[card.steps(q, a) for a in answers] for q, answers in groups] if repeat < args.card_repeats else None
        t3 = time.perf_counter()
        worst = 0.0
        if theirs is not None:
            for mine, ref in zip(ours, theirs):
                for result, steps in zip(mine, ref):
                    assert len(result.steps) == len(steps), (len(result.steps), len(steps))
                    worst = max([worst, *(abs(a - b) for a, b in zip(result.steps, steps))])
        rows.append(
            {
                "repeat": repeat,
                "rewardkit_s": t1 - t0,
                "classifier_s": t2 - t1,
                "card_loop_s": (t3 - t2) if theirs is not None else None,
                "max_abs_diff": worst if theirs is not None else None,
            }
        )
    tokens = sum(r.num_tokens for group in ours for r in group)
    steps = sum(step_count(s, args.recipe) for _, answers in groups for s in answers)
    rk = statistics.median(r["rewardkit_s"] for r in rows)
    cls = statistics.median(r["classifier_s"] for r in rows)
    card_s = statistics.median(r["card_loop_s"] for r in rows if r["card_loop_s"] is not None)
    summary = {
        "recipe": args.recipe,
        "dtype": args.dtype,
        "solutions": args.questions * args.solutions,
        "steps": steps,
        "tokens": tokens,
        "rewardkit_median_s": round(rk, 3),
        "classifier_median_s": round(cls, 3),
        "card_loop_median_s": round(card_s, 3),
        "speedup_vs_card_loop": round(card_s / rk, 2),
        "time_vs_classifier": round(rk / cls, 3),
        "max_abs_diff_vs_card": max(r["max_abs_diff"] for r in rows if r["max_abs_diff"] is not None),
        "packing": prm.info.packing,
        "targets": {
            "at least 3x the card's loop": "PASS" if card_s / rk >= 3 else "FAIL",
            "within 1.2x of the classifier": "PASS" if rk / cls <= 1.2 else "FAIL",
        },
    }
    return {"args": vars(args), "summary": summary, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", choices=("rlhflow-prm", "math-shepherd"), default="rlhflow-prm")
    parser.add_argument(
        "--dtype",
        choices=("float32", "bfloat16"),
        default="float32",
        help="every contender's weights and activations (the card loops read their two logits in float32)",
    )
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--solutions", type=int, default=8, help="solutions per question (a Best-of-N group)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--card-repeats", type=int, default=1, help="repeats that also run the (slow) card loop")
    parser.add_argument("--max-batch-tokens", type=int, default=8192)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, the same for every contender")
    parser.add_argument("--tiny", action="store_true", help="a 2-layer model (smoke run), not SmolLM2's shape")
    parser.add_argument("--out", default=None, help="write the JSON here too")
    args = parser.parse_args()
    result = run(args)
    print(json.dumps(result["summary"], indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
