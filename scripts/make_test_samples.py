"""Cut the test suite's data samples (tests/data; its README.md gives sources and licences) from the
full data files.

    .venv/bin/python scripts/make_test_samples.py [--data ../shared/data] [--out tests/data]

Deterministic: the same full files give byte-identical samples (rows keep their file order and their
content; gzip streams carry no name or time). Each sample keeps every row of its full file that
exercises a quirk the readers handle, so the facts the tests check on the full files (rows skipped,
answers dropped, notes counted) hold on the samples with the same counts; the rest is the first rows
of the file, or a hash-ordered draw where the file's order would give only one kind of row.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FULL = ROOT.parent / "shared" / "data"

HH_FILE = "hh_rlhf_harmless_base_test.jsonl.gz"
HH_FIRST = 200  # the tiny test checkpoints' tokenizers are trained on the first 200 dialogues
LLMBAR_FIRST = 40
TRUTHFULQA_FIRST = 40
ALPACA_HELD_OUT = 3  # instructions of the built-in recipe's held-out split ...
ALPACA_TRAINED = 9  # ... and of its training split, in hash order


def write_gzip(path: Path, text: str) -> None:
    """gzip with no file name and time in the header, so the bytes depend on the text alone."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
        f.write(text.encode("utf-8"))


def order(text: str) -> str:
    """A fixed draw order for texts (the files' own order groups rows by source)."""
    return hashlib.sha256(("rewardkit-sample:" + text).encode("utf-8")).hexdigest()


def cut_hh(full: Path, out: Path) -> str:
    """The first HH_FIRST rows and every row the reader skips or repairs (contexts that differ,
    turns of one role merged, empty responses)."""
    from rewardkit.data import hh_rlhf
    from rewardkit.data.records import Tally

    with gzip.open(full / HH_FILE, "rt", encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]
    kept = []
    for i, line in enumerate(lines):
        tally = Tally()
        hh_rlhf.read_pair(json.loads(line), f"{HH_FILE}:{i + 1}", "hh", tally)
        if i < HH_FIRST or tally.skipped or tally.notes:
            kept.append(line)
    write_gzip(out / HH_FILE, "".join(kept))
    return f"{HH_FILE}: {len(kept)} of {len(lines)} rows"


def cut_llmbar(full: Path, out: Path) -> str:
    """The first LLMBAR_FIRST rows."""
    rows = json.loads((full / "llmbar" / "Natural.json").read_text(encoding="utf-8"))
    (out / "llmbar").mkdir(exist_ok=True)
    kept = rows[:LLMBAR_FIRST]
    (out / "llmbar" / "Natural.json").write_text(json.dumps(kept, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return f"llmbar/Natural.json: {len(kept)} of {len(rows)} rows"


def truthfulqa_quirk(row: dict[str, str]) -> bool:
    """An incorrect-answer list with an empty, a repeated, or the best answer in it."""
    answers = [a.strip() for a in row["Incorrect Answers"].split(";")]
    return any(not a for a in answers) or len(set(answers)) < len(answers) or row["Best Answer"].strip() in answers


def cut_truthfulqa(full: Path, out: Path) -> str:
    """The first TRUTHFULQA_FIRST questions, the first question of every category, and every
    question whose incorrect answers the reader cleans up."""
    with open(full / "TruthfulQA.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames, list(reader)
    categories: set[str] = set()
    kept = []
    for i, row in enumerate(rows):
        first_of_category = row["Category"] not in categories
        categories.add(row["Category"])
        if i < TRUTHFULQA_FIRST or first_of_category or truthfulqa_quirk(row):
            kept.append(row)
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(kept)
    (out / "TruthfulQA.csv").write_text(buffer.getvalue(), encoding="utf-8", newline="")
    return f"TruthfulQA.csv: {len(kept)} of {len(rows)} questions"


def cut_alpaca_eval(full: Path, out: Path) -> str:
    """Every file's rows for a few instructions: those whose answer from some generator is the
    reference's exact text (the pair the reader skips), the first instruction missing from some
    file (the pool leaves it out), then in hash order the first ALPACA_HELD_OUT of the built-in
    recipe's held-out split and the first ALPACA_TRAINED of its training split."""
    from rewardkit.training.builtin_recipe import SETTINGS
    from rewardkit.training.mixture import held_out

    files = sorted((full / "alpaca_eval").glob("*.json.gz"))
    tables = {path.name: json.loads(gzip.decompress(path.read_bytes())) for path in files}
    everywhere = set.intersection(*({r["instruction"] for r in rows} for rows in tables.values()))
    chosen: set[str] = set()
    for rows in tables.values():
        chosen |= {
            r["instruction"] for r in rows if r["output_1"] == r["output_2"] and r["generator_2"] != r["generator_1"]
        }
    missing = [r["instruction"] for rows in tables.values() for r in rows if r["instruction"] not in everywhere]
    chosen.add(sorted(missing, key=order)[0])
    fraction = SETTINGS["alpaca_test_fraction"]
    drawn = sorted(everywhere - chosen, key=order)
    chosen |= set([i for i in drawn if held_out(i, fraction)][:ALPACA_HELD_OUT])
    chosen |= set([i for i in drawn if not held_out(i, fraction)][:ALPACA_TRAINED])
    (out / "alpaca_eval").mkdir(exist_ok=True)
    for name, rows in tables.items():
        kept = [r for r in rows if r["instruction"] in chosen]
        write_gzip(out / "alpaca_eval" / name, json.dumps(kept, indent=1, ensure_ascii=False) + "\n")
    every = {r["instruction"] for rows in tables.values() for r in rows}
    return f"alpaca_eval: {len(chosen)} of {len(every)} instructions, {len(files)} files"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=FULL, help="folder of the full data files")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "data", help="where the samples go")
    args = parser.parse_args(argv)
    if not (args.data / HH_FILE).is_file():
        print(f"make_test_samples: the full data files are not at {args.data} (pass --data DIR)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for cut in (cut_hh, cut_llmbar, cut_truthfulqa, cut_alpaca_eval):
        print(cut(args.data, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
