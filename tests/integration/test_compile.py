"""--compile: the packed forward compiled at load time gives the reference scores in any batch
composition, and no request compiles anything after the warm-up."""

from __future__ import annotations

import pytest
import tiny_models
from batch_checks import assert_batch_independent, varied_texts
from test_packing import reference, shared_prompt_texts

from rewardkit import RewardModel
from rewardkit.errors import ModelLoadError
from rewardkit.models.compiling import compiled_graphs


@pytest.fixture(scope="module")
def compiled(checkpoint):
    return RewardModel.load(checkpoint("llama"), compile=True)


def test_compiled_scores_equal_the_single_sequence_reference_in_any_batch(compiled, checkpoint):
    assert compiled.info.compiled.startswith("on: 2 decoder layers")
    path = checkpoint("llama")
    texts = [*varied_texts(10, seed=11), *shared_prompt_texts(seed=3)]
    tok = compiled.model.tokenizer
    expected = [reference("llama", path, tiny_models.reference_ids(tok, t))[0] for t in texts]
    assert_batch_independent(compiled, texts, expected)


def test_no_request_compiles_after_the_warm_up(checkpoint):
    """Its own architecture (no other test compiles qwen2), so every graph of it is counted here."""
    before = compiled_graphs()
    model = RewardModel.load(checkpoint("qwen2"), compile=True)
    assert compiled_graphs() > before
    texts = varied_texts(40, seed=12)
    warm = compiled_graphs()
    for count in (1, 2, 3, 9, 40):  # a row of one text (one segment), up to rows of many
        model.score(texts[:count])
    model.score(["a"])
    assert compiled_graphs() == warm


@pytest.mark.parametrize(("name", "options"), [("gpt_neox", {}), ("llama", {"packing": False})])
def test_compile_is_refused_for_a_model_that_is_not_packed(checkpoint, name, options):
    with pytest.raises(ModelLoadError, match="--compile compiles the packed forward"):
        RewardModel.load(checkpoint(name), compile=True, **options)
