"""A causal LM as a pairwise preference model (RLHFlow style): it reads a prompt holding a context
and two responses and answers with one of two tokens ("A" / "B"). Loaded only with --pairwise,
since nothing on disk tells such a model from any other causal LM.

The forward returns P(first response better) = softmax([logit_A, logit_B] / T)[0] from the logits
at the last attended token; only those two rows of the LM head are computed. Averaging over both
orders happens in rewardkit.scoring.pairwise.
"""

from __future__ import annotations

from typing import Any

from rewardkit.errors import ModelLoadError
from rewardkit.models.base import LoadedModel
from rewardkit.models.checkpoint import Checkpoint
from rewardkit.models.format import Loading, ModelFormat, assemble
from rewardkit.models.pooling import gather_last

__all__ = ["FORMAT", "PairwiseModel", "answer_token_ids"]


class PairwiseModel(LoadedModel):
    def __init__(self, *, answer_ids: tuple[int, int], temperature: float, softcap: float | None, **kw: Any) -> None:
        super().__init__(**kw)
        self.answer_ids = list(answer_ids)
        self.temperature = temperature
        self.softcap = softcap

    def forward(self, input_ids: Any, attention_mask: Any) -> Any:
        import torch

        hidden = self.module.base_model(input_ids=input_ids, attention_mask=attention_mask)[0]
        last = gather_last(hidden, attention_mask)
        head = self.module.get_output_embeddings()
        logits = last @ head.weight[self.answer_ids].T
        if getattr(head, "bias", None) is not None:
            logits = logits + head.bias[self.answer_ids]
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return torch.softmax(logits.float() / self.temperature, dim=-1)[:, :1]


def answer_token_ids(tokenizer: Any, tokens: str) -> tuple[tuple[str, str], tuple[int, int]]:
    """The two answer tokens and their ids; each must encode to exactly one token."""
    names = tokens.split(",")
    if len(names) != 2 or not all(names) or names[0] == names[1]:
        raise ModelLoadError(f"--pairwise-tokens must be two different comma-separated tokens, got {tokens!r}")
    ids = []
    for name in names:
        encoded = tokenizer.encode(name, add_special_tokens=False)
        if len(encoded) != 1:
            raise ModelLoadError(
                f"the pairwise answer {name!r} is {len(encoded)} tokens in this tokenizer ({encoded}); the model's "
                "answer is read from one position, so pick single-token answers with --pairwise-tokens"
            )
        ids.append(int(encoded[0]))
    return (names[0], names[1]), (ids[0], ids[1])


def check_template(template: str) -> None:
    """The template must fill {context}, {response_a} and {response_b} and nothing else."""
    marks = {"context": "\x00c\x00", "response_a": "\x00a\x00", "response_b": "\x00b\x00"}
    try:
        filled = template.format(**marks)
    except (KeyError, IndexError, ValueError) as exc:
        raise ModelLoadError(
            f"--pairwise-template {template!r} cannot be filled ({type(exc).__name__}: {exc}); use only "
            "{context}, {response_a} and {response_b}, and write literal braces as {{ and }}"
        ) from None
    missing = [name for name, mark in marks.items() if mark not in filled]
    if missing:
        raise ModelLoadError(f"--pairwise-template {template!r} never inserts {', '.join(missing)}")


def detect(ckpt: Checkpoint) -> str | None:
    return None  # only by --pairwise


def load(source: Loading) -> LoadedModel:
    ckpt, tokenizer, dtype, device, config = source.ckpt, source.tokenizer, source.dtype, source.device, source.config
    from transformers import AutoModelForCausalLM

    if config.pairwise_temperature <= 0:
        raise ModelLoadError(f"--pairwise-temperature must be positive, got {config.pairwise_temperature}")
    check_template(config.pairwise_template)
    if config.normalize:
        raise ModelLoadError("--normalize does not apply to a pairwise model: its output is a probability")
    names, ids = answer_token_ids(tokenizer, config.pairwise_tokens)
    module = AutoModelForCausalLM.from_pretrained(str(ckpt.path), dtype=dtype)
    module.to(device).eval()
    softcap = getattr(module.config, "final_logit_softcapping", None)
    model = assemble(
        PairwiseModel,
        FORMAT,
        source,
        module=module,
        head_text=f"LM head rows of {names[0]!r} ({ids[0]}) and {names[1]!r} ({ids[1]})",
        pooling="logits at the last token of the prompt (after the generation prompt)",
        num_labels=1,
        answer_ids=ids,
        temperature=config.pairwise_temperature,
        softcap=softcap,
    )
    model.info.pairwise = {
        "template": config.pairwise_template,
        "tokens": list(names),
        "token_ids": list(ids),
        "temperature": config.pairwise_temperature,
        "orders": "both, averaged: P(a > b) = (P_A(a, b) + 1 - P_A(b, a)) / 2",
        "ranking": ["knockout", "round_robin"],
    }
    return model


LAYOUT = "a causal LM that answers which of two responses is better (RLHFlow style), with --pairwise"
FORMAT = ModelFormat("pairwise-preference", LAYOUT, detect, load)
