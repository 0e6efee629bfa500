"""Step separators of process reward models: found only where the tokenizer emits them alone."""

from __future__ import annotations

import tiny_models

from rewardkit.models.token_level import separator_warning


def test_a_separator_that_never_merges_gets_no_warning():
    tok = tiny_models.decoder_tokenizer()
    assert separator_warning(tok, "\n", tok.encode("\n", add_special_tokens=False)[0]) is None


def test_a_real_tokenizer_that_merges_newlines_is_flagged():
    """SmolLM2's real BPE writes a trailing "\\n\\n" as one token, so a "\\n" step end there is lost.
    Read from the built-in checkpoint (SmolLM2's tokenizer, saved once by `make setup`): converting it
    from the GGUF file again would cost seconds."""
    from transformers import AutoTokenizer

    from rewardkit.models.builtin import ensure_builtin

    tok = AutoTokenizer.from_pretrained(ensure_builtin())
    warning = separator_warning(tok, "\n", tok.encode("\n", add_special_tokens=False)[0])
    assert warning is not None and "merges" in warning
    special = tok.convert_tokens_to_ids("<|im_end|>")
    assert separator_warning(tok, "<|im_end|>", special) is None
