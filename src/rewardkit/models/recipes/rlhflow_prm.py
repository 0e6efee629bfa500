"""rlhflow-prm: RLHFlow/Llama3.1-8B-PRM-Deepseek-Data and RLHFlow/Llama3.1-8B-PRM-Mistral-Data,
Llama-3.1-8B causal LMs trained as process reward models in a multi-turn chat format.

What the authors' evaluation code does (github.com/RLHFlow/RLHF-Reward-Modeling, math-rm/README.md
and math-rm/prm_evaluate.py; the same snippet is on both model cards): the answer is split into
steps on "\\n\\n" (Deepseek-Data) or "ки\\n" (Mistral-Data), each step stripped; the steps become
chat turns user(prompt + " " + step 1), assistant("+"), user(step 2), assistant("+"), ...; for each
k, the first k step pairs go through ``apply_chat_template`` (tokenized, no generation prompt) and
one forward, and the logits at position -3 (the one that predicts that last assistant "+") over
the tokens ``tokenizer.encode("+")[-1]`` and ``tokenizer.encode("-")[-1]`` give, by softmax,
P("+"), the step's score; the answer's score is the mean of its steps.

rewardkit runs the whole conversation once: each prefix's tokens are the whole conversation's first
tokens (checked on a probe at load), so the card's position -3 of prefix k is the third-to-last
token of the k-th assistant "+" turn, found by that turn's token pattern; only the hidden states
there meet the two LM head rows. Texts (/get_reward) are read the same way: every such turn in the
text is a step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rewardkit.errors import ModelLoadError
from rewardkit.models.base import LoadedModel
from rewardkit.models.checkpoint import Checkpoint
from rewardkit.models.format import Loading
from rewardkit.models.recipes._lm_rows import StepReader, require_causal_lm, rows_model
from rewardkit.models.recipes._recipe import (
    Recipe,
    causal_lm_architecture,
    named_on_disk,
    prompt_and_response,
    require_chat_template,
    single_token,
)
from rewardkit.templating import Rendering

__all__ = ["RECIPE"]

NAMES = r"prm-(deepseek|mistral)-data"
SEPARATORS = {"deepseek": "\n\n", "mistral": "ки\n"}
READ_FROM_END = 3
"""The card reads position -3 of each prefix: the token before the assistant's '+' and its end of turn."""


def detect(ckpt: Checkpoint) -> str | None:
    if causal_lm_architecture(ckpt) is None:
        return None
    return named_on_disk(ckpt, r"llama-?3\.1-8b-" + NAMES)


def default_separator(ckpt: Checkpoint) -> str:
    """'ки\\n' for the Mistral-Data model (named on disk), else '\\n\\n' (Deepseek-Data)."""
    found = named_on_disk(ckpt, NAMES)
    return SEPARATORS["mistral"] if found and "mistral" in found.lower() else SEPARATORS["deepseek"]


def step_turns(prompt: str, answer: str, separator: str) -> list[dict[str, str]]:
    turns = []
    for k, step in enumerate(part.strip() for part in answer.split(separator)):
        turns.append({"role": "user", "content": f"{prompt} {step}" if k == 0 else step})
        turns.append({"role": "assistant", "content": "+"})
    return turns


def _ids(tokenizer: Any, conversation: list[dict[str, str]]) -> list[int]:
    """What the card's ``apply_chat_template(conversation)`` tokenizes to (one BOS, from the template)."""
    return list(tokenizer.apply_chat_template(conversation, tokenize=True, return_dict=False))


def assistant_turn(tokenizer: Any, plus: int) -> tuple[int, ...]:
    """The tokens of an assistant '+' turn in this chat template, checked on a two-step probe so that
    one forward over the whole conversation reads what the card's forward per prefix reads."""
    require_chat_template(tokenizer, "rlhflow-prm", "writes steps as chat turns")
    turns = step_turns("What is 1 + 1?", "1 + 1 = 2.\n\nThe answer is 2.", "\n\n")
    one, whole = _ids(tokenizer, turns[:2]), _ids(tokenizer, turns)
    user = _ids(tokenizer, turns[:1])
    pattern = tuple(one[len(user) :])
    ends = [i + len(pattern) for i in range(len(whole)) if tuple(whole[i : i + len(pattern)]) == pattern]
    if one[: len(user)] != user or whole[: len(one)] != one or ends != [len(one), len(whole)]:
        raise ModelLoadError(
            "the rlhflow-prm recipe reads every step in one forward, which needs each step's prefix to be the "
            "start of the whole conversation in this chat template; it is not (the template writes a turn "
            "differently depending on what follows)"
        )
    if len(pattern) < READ_FROM_END or pattern[-2] != plus:
        raise ModelLoadError(
            f"the rlhflow-prm card reads position -3, the token that predicts the assistant's '+', which needs an "
            f"assistant turn ending in '+' and one token; this chat template writes it as {list(pattern)}"
        )
    return pattern


def turn_reads(pattern: Sequence[int]):
    """Positions READ_FROM_END before the end of each occurrence of ``pattern`` in a sequence."""
    size, first = len(pattern), pattern[0]
    pattern = tuple(pattern)

    def find(ids: Sequence[int]) -> list[int]:
        return [
            i + size - READ_FROM_END
            for i in range(len(ids) - size + 1)
            if ids[i] == first and tuple(ids[i : i + size]) == pattern
        ]

    return find


def load(source: Loading) -> LoadedModel:
    ckpt, tokenizer, config = source.ckpt, source.tokenizer, source.config
    require_causal_lm(source, RECIPE)
    plus, minus = int(tokenizer.encode("+")[-1]), int(tokenizer.encode("-")[-1])
    for text, token in (("+", plus), ("-", minus)):
        if single_token(tokenizer, text, "rlhflow-prm", "the answer token") != token:
            raise ModelLoadError(
                f"the rlhflow-prm recipe reads {text!r} as tokenizer.encode({text!r})[-1], not {token}"
            )
    pattern = assistant_turn(tokenizer, plus)
    separator = config.step_separator or default_separator(ckpt)

    def render(tok: Any, conversation: Any) -> str:
        prompt, answer = prompt_and_response(conversation)
        return tok.apply_chat_template(step_turns(prompt, answer, separator), tokenize=False)

    rendering = Rendering(
        name=f"rlhflow-prm: steps (split on {separator!r}, stripped) as user turns, each answered '+' by the "
        "assistant; chat template, tokenized as apply_chat_template does",
        conversation=render,
        special_tokens=False,
    )
    return rows_model(
        source,
        RECIPE,
        (plus, minus),
        head_text=f"LM head rows of '+' ({plus}) and '-' ({minus})",
        pooling="P('+') = softmax over the two logits at the token predicting each assistant '+' (the card's -3)",
        steps={
            "separator": separator,
            "assistant_turn": list(pattern),
            "score": "P('+') where each assistant '+' is predicted",
            "default_aggregation": "mean",
        },
        reader=StepReader(turn_reads(pattern)),
        rendering=rendering,
    )


RECIPE = Recipe(
    name="rlhflow-prm",
    description="RLHFlow Llama3.1-8B PRMs: steps as chat turns, P('+') per step, reward = mean over steps",
    detect=detect,
    load=load,
    by_name=True,
    family="RLHFlow/Llama3.1-8B-PRM-Deepseek-Data and -Mistral-Data (causal LM)",
    card="github.com/RLHFlow/RLHF-Reward-Modeling math-rm/README.md and math-rm/prm_evaluate.py (model cards)",
    rule=(
        "answer split into steps on --step-separator ('\\n\\n' Deepseek-Data, 'ки\\n' Mistral-Data), each stripped; "
        "turns user(prompt + ' ' + step 1), assistant('+'), user(step 2), assistant('+'), ...; per step, softmax "
        "over the logits of '+' and '-' at the position predicting that step's assistant '+' (the card's -3 of "
        "each prefix), P('+'); all steps in one forward; reward = the steps' --step-aggregation (default mean, "
        "as the authors' evaluation)"
    ),
)
