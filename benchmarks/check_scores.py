"""Are the benchmark's servers scoring the same thing? bench_serving.py's workloads scored by
rewardkit's server, by the OpenRLHF-style recipe's own computation (micro-batches of 64,
right-padded, read at the last attended token: what its server runs), and, for a sample, by one
plain unpadded forward per text (the reference), text by text.

    python benchmarks/check_scores.py [--rewardkit-flags=--append-eos] [bench_serving's workload flags]

Prints the largest difference per workload between each pair. The OpenRLHF-style recipe scores
texts as sent (no eos appended), so rewardkit's defaults are the comparable setting.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_model import ensure_model, load_scorer, load_tokenizer
from bench_serving import collect_scores, parse_args, server_args, workloads_from_args
from servers import SERVERS, start_server

MICRO_BATCH = 64
SAMPLE = 16


def main() -> int:
    args = parse_args()
    model_dir = ensure_model(args.model_dir, args.dtype)
    workloads = workloads_from_args(load_tokenizer(model_dir), args)[0]
    server = start_server(
        SERVERS["rewardkit"], model_dir, args.dtype, Path(tempfile.mkdtemp()), server_args("rewardkit", args)
    )
    try:
        ours = collect_scores(server, workloads, args.workloads)
    finally:
        server.stop()
    scorer = load_scorer(model_dir, args.dtype)
    print(f"rewardkit flags: {args.rewardkit_flags or '(defaults)'}")
    worst = 0.0
    for w in args.workloads:
        texts = list(dict.fromkeys(t for request in workloads[w].requests for t in request))
        padded = [
            s for i in range(0, len(texts), MICRO_BATCH) for s in scorer.score_texts(texts[i : i + MICRO_BATCH])[0]
        ]
        alone = [scorer.score_texts([t])[0][0] for t in texts[:SAMPLE]]
        vs_recipe = max(abs(a - b) for a, b in zip(ours[w], padded))
        recipe_vs_ref = max(abs(a - b) for a, b in zip(padded, alone))
        ours_vs_ref = max(abs(a - b) for a, b in zip(ours[w], alone))
        worst = max(worst, vs_recipe)
        print(
            f"{w:<7} {len(texts)} texts: |rewardkit - openrlhf-style| max {vs_recipe:.1e}; on the first "
            f"{SAMPLE}, |openrlhf-style - unpadded reference| max {recipe_vs_ref:.1e}, "
            f"|rewardkit - reference| max {ours_vs_ref:.1e}"
        )
    return 0 if worst <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
