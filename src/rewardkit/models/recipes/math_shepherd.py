"""math-shepherd: peiyi9979/math-shepherd-mistral-7b-prm, a Mistral-7B causal LM trained as a
process reward model (Wang et al., "Math-Shepherd: Verify and Reinforce LLMs Step-by-step without
Human Annotations", ACL 2024).

What its model card's snippet does (huggingface.co/peiyi9979/math-shepherd-mistral-7b-prm):
the question and the answer are joined by one space, the answer's steps each ending in the step
tag "ки"; the text is encoded with the tokenizer's special tokens (BOS); the two candidate tokens
are ``tokenizer.encode("+ -")[1:]`` (good, bad) and the step tag's id ``tokenizer.encode("ки")[-1]``;
one forward; at every position holding the step tag, softmax over the logits of the two candidates,
and the probability of "+" is that step's score. The paper ranks solutions by the minimum step
score, the default aggregation here.

rewardkit computes those logits from the hidden states at the step tags only, through the two LM
head rows. An answer with no step tag has ``steps: []`` and its reward is P("+") at the last token.
"""

from __future__ import annotations

from typing import Any

from rewardkit.errors import ModelLoadError
from rewardkit.models.base import LoadedModel
from rewardkit.models.checkpoint import Checkpoint
from rewardkit.models.format import Loading
from rewardkit.models.recipes._lm_rows import StepReader, require_causal_lm, rows_model
from rewardkit.models.recipes._recipe import Recipe, causal_lm_architecture, named_on_disk, prompt_and_response
from rewardkit.templating import Rendering

__all__ = ["RECIPE"]

STEP_TAG = "ки"
GOOD, BAD = "+", "-"


def detect(ckpt: Checkpoint) -> str | None:
    if causal_lm_architecture(ckpt) is None:
        return None
    return named_on_disk(ckpt, r"math-shepherd[\w.-]*")


def candidate_tokens(tokenizer: Any) -> tuple[int, int]:
    """The card's ``tokenizer.encode("+ -")[1:]``, checked to be the two tokens after one added BOS."""
    text = f"{GOOD} {BAD}"
    with_special = tokenizer.encode(text)
    plain = tokenizer.encode(text, add_special_tokens=False)
    if len(plain) != 2 or with_special[1:] != plain:
        raise ModelLoadError(
            f"the math-shepherd recipe reads '+' and '-' as the card does, tokenizer.encode({text!r})[1:] (the "
            f"BOS dropped); this tokenizer gives {with_special}, which is not one added BOS then two tokens"
        )
    return int(plain[0]), int(plain[1])


def step_tag_id(tokenizer: Any, tag: str) -> int:
    """The card's ``tokenizer.encode("ки")[-1]``, checked to be the whole tag."""
    last = int(tokenizer.encode(tag)[-1])
    if tokenizer.encode(tag, add_special_tokens=False) != [last]:
        raise ModelLoadError(
            f"the math-shepherd recipe finds steps at the step tag {tag!r}, which this tokenizer writes as "
            f"{tokenizer.encode(tag, add_special_tokens=False)}, not one token; pass --step-separator with a tag "
            "that is one token"
        )
    return last


def render(tokenizer: Any, conversation: Any) -> str:
    question, answer = prompt_and_response(conversation)
    return f"{question} {answer}"


def load(source: Loading) -> LoadedModel:
    tokenizer, config = source.tokenizer, source.config
    require_causal_lm(source, RECIPE)
    good, bad = candidate_tokens(tokenizer)
    tag = config.step_separator or STEP_TAG
    tag_id = step_tag_id(tokenizer, tag)
    rendering = Rendering(
        name="math-shepherd: question + ' ' + answer, encoded with special tokens (no chat template)",
        conversation=render,
    )
    return rows_model(
        source,
        RECIPE,
        (good, bad),
        head_text=f"LM head rows of '+' ({good}) and '-' ({bad})",
        pooling=f"P('+') = softmax of the two logits at each step tag {tag!r} ({tag_id}); else at the last token",
        steps={
            "step_tag": tag,
            "step_tag_id": tag_id,
            "score": "P('+') at each step tag",
            "default_aggregation": "min",
        },
        reader=StepReader(lambda ids: [p for p, t in enumerate(ids) if t == tag_id]),
        rendering=rendering,
    )


RECIPE = Recipe(
    name="math-shepherd",
    description="Math-Shepherd PRM: P('+') vs '-' at each step tag 'ки', reward = min over steps",
    detect=detect,
    load=load,
    by_name=True,
    family="peiyi9979/math-shepherd-mistral-7b-prm (causal LM)",
    card="huggingface.co/peiyi9979/math-shepherd-mistral-7b-prm (model card snippet); arXiv 2312.08935",
    rule=(
        "text = question + ' ' + answer (steps end in the step tag 'ки'), encoded with special tokens; per step, "
        "softmax over the logits of '+' and '-' (tokenizer.encode('+ -')[1:]) at each step tag, P('+'); reward = "
        "the steps' --step-aggregation (default min, as the paper); no step tag: P('+') at the last token"
    ),
)
