"""A causal LM read through a few rows of its LM head: what the causal-LM recipes share.

A card that reads "the logit of token X at position p" needs hidden(p) @ W[X].T, not the
vocabulary-wide logits at every position. The backbone runs once (packed and shared-prompt reusing
where the architecture allows, models/packing.py; else right-padded), its last hidden states are
taken at the recipe's read positions only, and only the LM head rows the card reads are applied
there (bias, logit scale and final soft-capping included, so each logit equals the full head's).

Readers say where a sequence is read and what the logits there become: per-step probabilities
(process reward models) or one value at the last token. `rows_model` loads and assembles such a
model from the token ids a recipe reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rewardkit.errors import ModelLoadError
from rewardkit.models.backbone import missing_weights
from rewardkit.models.base import LoadedModel, StepRewards
from rewardkit.models.format import Loading
from rewardkit.models.packing import Packing
from rewardkit.models.recipes._recipe import Recipe, causal_lm_architecture, reward_model

__all__ = ["LMRowsModel", "LastTokenReader", "StepReader", "load_rows", "require_causal_lm", "rows_model"]


class StepReader:
    """Two rows (good, bad): at each step position P(good) = softmax over the two logits, in order;
    the sequence's last token is read too (its P(good) is the reward when no step is found)."""

    def __init__(self, find: Callable[[Sequence[int]], list[int]]) -> None:
        self.find = find

    def positions(self, ids: Sequence[int]) -> list[int]:
        return [*self.find(ids), len(ids) - 1]

    def outputs(self, logits: Any, reads: Sequence[Sequence[int]]) -> StepRewards:
        good = logits.float().softmax(dim=-1)[:, 0]
        steps, lasts, offset = [], [], 0
        for positions in reads:
            steps.append(good[offset : offset + len(positions) - 1].tolist())
            offset += len(positions)
            lasts.append(offset - 1)
        return StepRewards(values=good[lasts].unsqueeze(-1), steps=steps, positions=[list(p[:-1]) for p in reads])


class LastTokenReader:
    """One value at the last token: the row's raw logit ('logit'), P(first) = softmax over two
    rows ('probability'), or the first row's logit minus the second's ('logit-diff')."""

    def __init__(self, output: str) -> None:
        if output not in ("logit", "probability", "logit-diff"):
            raise ValueError(f"unknown output {output!r}")
        self.output = output

    def positions(self, ids: Sequence[int]) -> list[int]:
        return [len(ids) - 1]

    def outputs(self, logits: Any, reads: Sequence[Sequence[int]]) -> Any:
        logits = logits.float()
        if self.output == "probability":
            return logits.softmax(dim=-1)[:, :1]
        if self.output == "logit-diff":
            return (logits[:, 0] - logits[:, 1]).unsqueeze(-1)
        return logits[:, :1]


def _rows_head(module: Any, token_ids: Sequence[int]) -> Any:
    """A module computing the LM head's logits for ``token_ids`` only, from last hidden states."""
    import torch

    head = module.get_output_embeddings()
    rows = torch.nn.Linear(head.weight.shape[1], len(token_ids), bias=getattr(head, "bias", None) is not None)
    with torch.no_grad():
        rows.weight.copy_(head.weight[list(token_ids)])
        if rows.bias is not None:
            rows.bias.copy_(head.bias[list(token_ids)])
    rows = rows.to(device=head.weight.device, dtype=head.weight.dtype)
    scale = getattr(module.config, "logit_scale", None)
    softcap = getattr(module.config, "final_logit_softcapping", None)

    class RowsHead(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rows = rows

        def forward(self, hidden: Any) -> Any:
            logits = self.rows(hidden)
            if scale:
                logits = logits * scale
            if softcap:
                logits = torch.tanh(logits / softcap) * softcap
            return logits

    return RowsHead().eval()


def require_causal_lm(source: Loading, recipe: Recipe) -> None:
    """An error naming the recipe unless config.json names a *ForCausalLM class (checked first, so a
    checkpoint of another kind is told that, not that a token is missing)."""
    ckpt = source.ckpt
    if causal_lm_architecture(ckpt) is None:
        raise ModelLoadError(
            f"{ckpt.path}: the {recipe.name} recipe reads the LM head of a causal LM ({recipe.family}), but "
            f"config.json architectures={ckpt.architectures or 'none'} names no *ForCausalLM class"
        )


def load_rows(source: Loading, recipe: Recipe, token_ids: Sequence[int]) -> tuple[Any, Any]:
    """(backbone, head over ``token_ids``'s rows) of a causal LM checkpoint on the loading's device;
    an error naming the recipe when the checkpoint is not a causal LM or lacks stored weights."""
    ckpt = source.ckpt
    require_causal_lm(source, recipe)
    from transformers import AutoModelForCausalLM

    module, loading = AutoModelForCausalLM.from_pretrained(str(ckpt.path), dtype=source.dtype, output_loading_info=True)
    shown = missing_weights(loading)
    if shown:
        raise ModelLoadError(
            f"{ckpt.path}: the {recipe.name} recipe needs the whole causal LM, LM head included; these weights "
            f"are not stored: {shown}"
        )
    vocab = module.get_output_embeddings().weight.shape[0]
    outside = [t for t in token_ids if not 0 <= t < vocab]
    if outside:
        raise ModelLoadError(f"{ckpt.path}: token ids {outside} are outside the LM head's {vocab} rows")
    module.to(source.device).eval()
    return module.base_model, _rows_head(module, token_ids)


class LMRowsModel(Packing, LoadedModel):
    """A causal LM's backbone, the LM head rows a recipe reads, and its reader."""

    def __init__(self, *, reader: Any, rendering: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reader = reader
        self.rendering = rendering

    def packing_backbone(self) -> Any:
        return self.module

    def read_positions(self, ids: Sequence[int]) -> list[int]:
        return self.reader.positions(ids)

    def forward(self, input_ids: Any, attention_mask: Any) -> Any:
        import torch

        hidden = self.module(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)[0]
        lengths = attention_mask.sum(dim=1).tolist()  # right-padded: a row's real tokens come first
        reads = [self.reader.positions(input_ids[row, :n].tolist()) for row, n in enumerate(lengths)]
        rows = torch.tensor([row for row, positions in enumerate(reads) for _ in positions], device=hidden.device)
        cols = torch.tensor([p for positions in reads for p in positions], device=hidden.device)
        return self.reader.outputs(self.head(hidden[rows, cols]).float(), reads)

    def forward_packed(self, sequences: Sequence[Sequence[int]]) -> Any:
        reads = [self.reader.positions(ids) for ids in sequences]
        return self.reader.outputs(self.packed_head(sequences, reads), reads)


def rows_model(source: Loading, recipe: Recipe, token_ids: Sequence[int], **fields: Any) -> LoadedModel:
    """The recipe's LMRowsModel over ``token_ids``'s LM head rows (`load_rows`); ``fields`` (head_text,
    pooling, reader, rendering, steps) go to `assemble`."""
    backbone, head = load_rows(source, recipe, token_ids)
    return reward_model(LMRowsModel, recipe, source, module=backbone, head=head, **fields)
