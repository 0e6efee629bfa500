"""Custom model classes shipped inside the checkpoint (config.json ``auto_map``), run only with
--trust-remote-code: "LlamaRewardModel with a value head" classes, ArmoRM-style multi-objective
models with gating, Qwen2.5-Math-RM token-level heads, Qwen2.5-Math-PRM process reward models.

rewardkit runs the model's own forward on right-padded inputs with an attention mask, so the
reward is exactly what its authors' code returns. What the output means is learned once at load
time from one real forward:
- ``score`` (+ optional ``rewards``): the scalar reward, plus K named objectives (ArmoRM);
- ``logits`` [batch, labels]: one or several sequence-level outputs;
- ``logits`` [batch, seq, 1]: a reward per token, read at the last one;
- ``logits`` [batch, seq, 2]: a process reward model, P(good) at each step separator.
"""

from __future__ import annotations

from typing import Any

from rewardkit.errors import ModelLoadError
from rewardkit.models.base import LoadedModel
from rewardkit.models.checkpoint import Checkpoint
from rewardkit.models.format import Loading, ModelFormat, assemble, label_names
from rewardkit.models.token_level import TokenLevelReader, token_reader

__all__ = ["FORMAT", "CustomCodeModel"]

AUTO_CLASSES = ("AutoModelForSequenceClassification", "AutoModelForTokenClassification", "AutoModel")


def _field(output: Any, name: str) -> Any:
    if isinstance(output, dict) or hasattr(output, "keys"):
        return output.get(name)
    return getattr(output, name, None)


def _logits(output: Any) -> Any:
    logits = _field(output, "logits")
    if logits is None and isinstance(output, (tuple, list)) and output:
        logits = output[0]
    if logits is None and hasattr(output, "dim"):
        logits = output
    return logits


class CustomCodeModel(LoadedModel):
    """``layout`` is 'gated' (score + objectives), 'sequence', or 'token' (per-token logits)."""

    def __init__(self, *, layout: str, reader: TokenLevelReader | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.layout = layout
        self.reader = reader

    def forward(self, input_ids: Any, attention_mask: Any) -> Any:
        output = self.module(input_ids=input_ids, attention_mask=attention_mask)
        return read_output(output, self.layout, self.reader, input_ids, attention_mask)


def read_output(output: Any, layout: str, reader: TokenLevelReader | None, input_ids: Any, mask: Any) -> Any:
    import torch

    batch = input_ids.shape[0]
    if layout == "gated":
        score = _field(output, "score").float().reshape(batch, 1)
        rewards = _field(output, "rewards")
        return score if rewards is None else torch.cat([score, rewards.float().reshape(batch, -1)], dim=1)
    logits = _logits(output)
    if layout == "token":
        return reader(logits, input_ids, mask)  # type: ignore[misc]
    return logits.float().reshape(batch, -1)


def infer_layout(output: Any, input_ids: Any, num_labels: int) -> tuple[str, int]:
    """(layout, width) of a model's output: what each tensor means, from its names and shapes."""
    if _field(output, "score") is not None:
        rewards = _field(output, "rewards")
        return "gated", 0 if rewards is None else int(rewards.reshape(input_ids.shape[0], -1).shape[1])
    logits = _logits(output)
    if logits is None or not hasattr(logits, "dim"):
        raise ModelLoadError(
            f"the custom model returned {type(output).__name__} with no 'score', 'rewards' or 'logits' tensor; "
            "rewardkit cannot tell where its reward is"
        )
    seq = input_ids.shape[1]
    if logits.dim() == 3:
        return "token", int(logits.shape[-1])
    if logits.dim() == 2 and logits.shape[1] == seq and seq != num_labels:
        return "token", 1
    return "sequence", int(logits.reshape(input_ids.shape[0], -1).shape[1])


def probe_ids(tokenizer: Any) -> list[int]:
    """A short real conversation, templated as served, to run the model once at load time."""
    conversation = [{"role": "user", "content": "Hello, how are you?"}, {"role": "assistant", "content": "Fine."}]
    if getattr(tokenizer, "chat_template", None):
        out = tokenizer.apply_chat_template(conversation, tokenize=True)
        return list(out["input_ids"] if hasattr(out, "keys") else out)
    return tokenizer("Human: Hello, how are you?\n\nAssistant: Fine.")["input_ids"]


def auto_class(ckpt: Checkpoint) -> str | None:
    return next((name for name in AUTO_CLASSES if name in ckpt.auto_map), None)


def detect(ckpt: Checkpoint) -> str | None:
    name = auto_class(ckpt)
    return f"config.json auto_map {name} -> {ckpt.auto_map[name]}" if name else None


def load(source: Loading) -> LoadedModel:
    ckpt, tokenizer, dtype, device, config = source.ckpt, source.tokenizer, source.dtype, source.device, source.config
    import torch
    import transformers

    name = auto_class(ckpt)
    module = getattr(transformers, str(name)).from_pretrained(str(ckpt.path), dtype=dtype, trust_remote_code=True)
    module.to(device).eval()
    ids = torch.tensor([probe_ids(tokenizer)], device=device)
    with torch.inference_mode():
        sample = module(input_ids=ids, attention_mask=torch.ones_like(ids))
    num_labels = int(getattr(module.config, "num_labels", 1) or 1)
    layout, width = infer_layout(sample, ids, num_labels)
    reader, steps, objective = None, None, None
    if layout == "gated":
        outputs = ["score", *label_names(ckpt, width)] if width else ["score"]
        objective = "score" if width else None
        pooling = "the model's own (gated score over objectives; right-padded inputs with attention mask)"
    elif layout == "token":
        reader, pooling, steps = token_reader(ckpt, tokenizer, width, config.step_separator)
        outputs = ["reward"]
    else:
        outputs = label_names(ckpt, width)
        pooling = "the model's own (right-padded inputs with attention mask)"
    return assemble(
        CustomCodeModel,
        FORMAT,
        source,
        module=module,
        head_text=f"custom class {type(module).__name__} ({ckpt.auto_map[str(name)]}), output: {layout}",
        pooling=pooling,
        num_labels=len(outputs),
        outputs=outputs,
        objective=objective,
        steps=steps,
        layout=layout,
        reader=reader,
    )


LAYOUT = "a model class shipped in the checkpoint (auto_map), with --trust-remote-code"
FORMAT = ModelFormat("custom-code", LAYOUT, detect, load, runs_custom_code=True)
