"""Retrain the built-in model's reward head and write it into the package (src/rewardkit/models/builtin_head.json).

    .venv/bin/python scripts/train_builtin.py [--work-dir /tmp/builtin-train]

The same as `rewardkit train <SmolLM2 GGUF> ../shared/data/hh_rlhf_harmless_base_test.jsonl.gz
-o WORK --head-only --test-fraction 0.2`, followed by exporting the head with its provenance. The
held-out 20% (chosen by content hash) is never trained on. About 30-40 minutes on 2 CPU cores, most
of it the one feature pass over the frozen backbone; features are cached in WORK, so a rerun or a
resumed run is quick.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from rewardkit.models.builtin import HEAD_FILE, export_head, gguf_path
from rewardkit.training.head import HeadTraining
from rewardkit.training.trainer import train_head_only

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "hh_rlhf_harmless_base_test.jsonl.gz"
TEST_FRACTION = 0.2
SEED = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/rewardkit-builtin-train"))
    parser.add_argument("--data", type=Path, default=DATA.resolve())
    parser.add_argument("--output", type=Path, default=HEAD_FILE)
    args = parser.parse_args()

    training = HeadTraining(seed=SEED)
    report = train_head_only(
        gguf_path(), [args.data], args.work_dir, training=training, seeds=[SEED], test_fraction=TEST_FRACTION
    )
    head = export_head(
        args.work_dir,
        args.output,
        training={
            "data": args.data.name,
            "train_pairs": report.train_pairs,
            "test_pairs": report.test_pairs,
            "test_fraction": TEST_FRACTION,
            "dropped": report.dropped,
            "settings": asdict(training),
            "final_loss": report.seeds[0].losses[-1],
            "command": f"rewardkit train {gguf_path().name} {args.data.name} -o WORK --head-only "
            f"--test-fraction {TEST_FRACTION} --seeds {SEED}",
        },
    )
    print(json.dumps({"evaluation": head["evaluation"], "training": head["training"]}, indent=2))


if __name__ == "__main__":
    main()
