"""yes-no-verifier: any causal LM used as a generative verifier or LLM judge. It reads a question
about the response (the judge template) as one user message, through its chat template with a
generation prompt, and its answer is read from the next-token logits of "Yes" and "No":
reward = P(Yes) / (P(Yes) + P(No)) = softmax([logit_yes, logit_no])[0], or with
``--verifier-output logit-diff`` the log-odds logit_yes - logit_no.

This is the reading of generative verifiers and judges (e.g. Zhang et al., "Generative Verifiers:
Reward Modeling as Next-Token Prediction", arXiv 2408.15240: the verifier's score is the
probability of "Yes" at the answer position). Nothing on disk tells such a model from any other
causal LM, so it is only chosen by ``--recipe yes-no-verifier``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rewardkit.errors import InvalidInputError, ModelLoadError
from rewardkit.models.base import LoadedModel
from rewardkit.models.checkpoint import Checkpoint
from rewardkit.models.format import Loading
from rewardkit.models.recipes._lm_rows import LastTokenReader, require_causal_lm, rows_model
from rewardkit.models.recipes._recipe import Recipe, prompt_and_response, require_chat_template, single_token
from rewardkit.templating import Rendering

__all__ = ["DEFAULT_JUDGE_TEMPLATE", "RECIPE", "judge_template"]

DEFAULT_JUDGE_TEMPLATE = (
    "Question:\n{{ prompt }}\n\nResponse:\n{{ response }}\n\nIs the response correct? Answer with Yes or No."
)


def detect(ckpt: Checkpoint) -> str | None:
    return None  # any causal LM: chosen by --recipe only


def judge_template(path: str | None) -> Any:
    """The compiled judge template (sandboxed Jinja, as chat templates are), from a file or the
    default; it must insert both ``prompt`` and ``response``."""
    from jinja2 import StrictUndefined, TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    if path is None:
        source = DEFAULT_JUDGE_TEMPLATE
    else:
        file = Path(path).expanduser()
        if not file.is_file():
            raise ModelLoadError(
                f"--judge-template {path}: no such file (a Jinja file with {{{{ prompt }}}} and {{{{ response }}}})"
            )
        source = file.read_text()
    try:
        template = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True).from_string(
            source
        )
        probe = template.render(prompt="\x00p\x00", response="\x00r\x00", messages=[])
    except TemplateError as exc:
        raise ModelLoadError(f"--judge-template: {type(exc).__name__}: {exc}") from None
    missing = [name for name, mark in (("prompt", "\x00p\x00"), ("response", "\x00r\x00")) if mark not in probe]
    if missing:
        raise ModelLoadError(f"--judge-template never inserts {' and '.join(missing)}")
    return template


def verifier_tokens(tokenizer: Any, tokens: str) -> tuple[tuple[str, str], tuple[int, int]]:
    names = tokens.split(",")
    if len(names) != 2 or not all(names) or names[0] == names[1]:
        raise ModelLoadError(f"--verifier-tokens must be two different comma-separated tokens, got {tokens!r}")
    ids = [single_token(tokenizer, name, "yes-no-verifier", "the answer token (--verifier-tokens)") for name in names]
    return (names[0], names[1]), (ids[0], ids[1])


def load(source: Loading) -> LoadedModel:
    tokenizer, config = source.tokenizer, source.config
    require_causal_lm(source, RECIPE)
    require_chat_template(
        tokenizer, "yes-no-verifier", "asks its question through the chat template with a generation prompt"
    )
    template = judge_template(config.judge_template)
    names, ids = verifier_tokens(tokenizer, config.verifier_tokens)

    def render(tok: Any, conversation: Any) -> str:
        prompt, response = prompt_and_response(conversation)
        try:
            question = template.render(prompt=prompt, response=response, messages=conversation[:-1])
        except Exception as exc:  # a template error met only with this input: the caller's
            raise InvalidInputError(f"the judge template failed on this input: {type(exc).__name__}: {exc}") from None
        user = [{"role": "user", "content": question}]
        return tok.apply_chat_template(user, tokenize=False, add_generation_prompt=True)

    output = config.verifier_output
    return rows_model(
        source,
        RECIPE,
        ids,
        head_text=f"LM head rows of {names[0]!r} ({ids[0]}) and {names[1]!r} ({ids[1]})",
        pooling=(
            f"P({names[0]!r}) / (P({names[0]!r}) + P({names[1]!r})) at the next-token position"
            if output == "probability"
            else f"logit({names[0]!r}) - logit({names[1]!r}) at the next-token position"
        ),
        reader=LastTokenReader("probability" if output == "probability" else "logit-diff"),
        rendering=Rendering(
            name="yes-no-verifier: the judge template as one user message, chat template with a generation prompt",
            conversation=render,
            special_tokens=False,
        ),
    )


RECIPE = Recipe(
    name="yes-no-verifier",
    description="generative verifiers / LLM judges: P(Yes) / (P(Yes) + P(No)) after a judge question",
    detect=detect,
    load=load,
    family="generative verifiers and LLM judges (any causal LM)",
    card="Zhang et al., Generative Verifiers, arXiv 2408.15240 (P('Yes') at the answer position)",
    rule=(
        "the judge template (--judge-template, Jinja with prompt and response) as one user message through the "
        "chat template with a generation prompt; reward = P(Yes) / (P(Yes) + P(No)) at the next-token position "
        "(--verifier-tokens, default Yes,No; --verifier-output logit-diff: logit(Yes) - logit(No))"
    ),
)
