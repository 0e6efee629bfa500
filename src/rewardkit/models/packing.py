"""Padding-free packed forwards for decoder backbones.

A batch of sequences is concatenated into one row: every linear layer (most of the compute) runs
over all real tokens at once and no pad token is ever computed, while attention is confined to each
sequence (one causal attention per segment) and positions restart at 0 for each. The hidden state a
head reads is then exactly that of the sequence run alone (float noise aside).

Sequences that share a token prefix (a Best-of-N group, GRPO's answers to one prompt, the same
prompt in concurrent requests) share it in the row: the prefix is computed once and each
continuation attends to the prefix's keys and values, then causally to its own, at the positions
it would have had. A causal model's prefix states do not depend on what follows, so this is exact.

This works through transformers' attention interface: the backbone's attention implementation is
switched to one registered here, which does segment attention when the forward is given segment
bounds and plain SDPA (the default implementation) otherwise, so the padded path is unchanged.
Only architectures whose attention is plain causal softmax attention are packed (no sliding window,
no logit soft-capping); anything else keeps the padded path and says why (``/info``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MIN_SHARED",
    "PACKABLE_TYPES",
    "LastTokenPacking",
    "Layout",
    "Row",
    "Varlen",
    "enable_packing",
    "pack",
    "packed_last_hidden",
    "varlen_usable",
]

ATTENTION = "rewardkit_packed"
BOUNDS = "rewardkit_segments"
"""The forward keyword that carries each segment's (start, end, prefix_start, prefix_end) in the row:
its queries, and the shared prefix it also attends to (empty when prefix_start == prefix_end)."""
MIN_SHARED = 8
"""Fewest shared leading tokens worth computing once (below it the bookkeeping costs more)."""
PACKABLE_TYPES = frozenset({"llama", "qwen2", "qwen3", "mistral"})
"""Model types whose attention is plain causal attention through the attention interface."""

_registered = False


def _register() -> None:
    global _registered
    if _registered:
        return
    import torch
    from torch.nn.attention.bias import causal_lower_right
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface, sdpa_mask

    def segment_attention(
        module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: Any = None, **kwargs: Any
    ) -> tuple[Any, None]:
        layout = kwargs.pop(BOUNDS, None)
        if layout is None:
            return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, **kwargs)
        if layout.varlen is not None:
            return _varlen_attention(query, key, value, layout.varlen, scaling), None
        bounds = layout.segments
        key = repeat_kv(key, module.num_key_value_groups)
        value = repeat_kv(value, module.num_key_value_groups)
        out = torch.empty_like(query)
        attend = torch.nn.functional.scaled_dot_product_attention
        for start, end, prefix_start, prefix_end in bounds:
            own = slice(start, end)
            if prefix_end == prefix_start:
                out[:, :, own] = attend(
                    query[:, :, own], key[:, :, own], value[:, :, own], is_causal=True, scale=scaling
                )
                continue
            shared = slice(prefix_start, prefix_end)
            keys = torch.cat([key[:, :, shared], key[:, :, own]], dim=2)
            values = torch.cat([value[:, :, shared], value[:, :, own]], dim=2)
            mask = causal_lower_right(end - start, keys.shape[2])  # all of the prefix, then causal
            out[:, :, own] = attend(query[:, :, own], keys, values, attn_mask=mask, scale=scaling)
        return out.transpose(1, 2).contiguous(), None

    def mask_unless_packed(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("attention_mask") is None:
            return None  # packed: segment bounds confine attention, no dense mask is built
        return sdpa_mask(*args, **kwargs)

    AttentionInterface.register(ATTENTION, segment_attention)
    AttentionMaskInterface.register(ATTENTION, mask_unless_packed)
    assert ATTENTION in ALL_MASK_ATTENTION_FUNCTIONS._global_mapping
    _registered = True


def enable_packing(backbone: Any, max_length: int) -> str | None:
    """Switch ``backbone`` (a transformers decoder) to the packed-capable attention; None when done,
    else why it keeps the padded path."""
    config = getattr(backbone, "config", None)
    model_type = getattr(config, "model_type", None)
    if model_type not in PACKABLE_TYPES:
        packable = ", ".join(sorted(PACKABLE_TYPES))
        return f"model type {model_type!r} is not one whose attention rewardkit packs ({packable})"
    window = getattr(config, "sliding_window", None)
    if getattr(config, "use_sliding_window", window is not None) and window is not None and window < max_length:
        return f"sliding-window attention ({window} tokens) is shorter than the max length"
    if getattr(config, "_attn_implementation", None) not in ("sdpa", "eager", ATTENTION):
        return f"attention implementation {config._attn_implementation!r} is kept as loaded"
    _register()
    backbone.set_attn_implementation(ATTENTION)
    return None


@dataclass
class Row:
    """A packed row: token ids, their positions, the attention segments, and where each input
    sequence's last token sits."""

    ids: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    segments: list[tuple[int, int, int, int]] = field(default_factory=list)
    reads: list[int] = field(default_factory=list)

    def add(self, tokens: Sequence[int], first_position: int, prefix: tuple[int, int] = (0, 0)) -> tuple[int, int]:
        """Append a segment that attends to ``prefix`` (a span already in the row) and to itself."""
        start = len(self.ids)
        self.ids.extend(tokens)
        self.positions.extend(range(first_position, first_position + len(tokens)))
        self.segments.append((start, len(self.ids), *prefix))
        return start, len(self.ids)


def _shared_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def pack(sequences: Sequence[Sequence[int]], share: bool = True) -> Row:
    """One row for ``sequences``; with ``share``, sequences with a common prefix of at least
    MIN_SHARED tokens are grouped and the prefix is placed once. A sequence is never cut inside its
    last token: a continuation keeps at least one token, so every reward is read from its own segment
    or, for a sequence equal to the prefix, from the prefix's last token."""
    row = Row(reads=[0] * len(sequences))
    order = sorted(range(len(sequences)), key=lambda i: tuple(sequences[i])) if share else range(len(sequences))
    groups: list[tuple[int, list[int]]] = []  # (shared length, members)
    for i in order:
        if share and groups:  # sorted, so the group's shared prefix is what its first and newest members share
            shared, members = groups[-1]
            common = min(_shared_length(sequences[members[0]], sequences[i]), shared or len(sequences[i]))
            saved_before, saved_after = shared * (len(members) - 1), common * len(members)
            if common >= MIN_SHARED and saved_after >= saved_before:
                groups[-1] = (common, [*members, i])
                continue
        groups.append((0, [i]))
    for shared, members in groups:
        # keep one token of the shortest member out of the prefix, so the prefix never swallows a whole sequence
        shared = min(shared, min(len(sequences[i]) for i in members) - 1)
        if len(members) == 1 or shared < MIN_SHARED:
            for i in members:
                _, end = row.add(sequences[i], 0)
                row.reads[i] = end - 1
            continue
        prefix = row.add(sequences[members[0]][:shared], 0)
        for i in members:
            _, end = row.add(sequences[i][shared:], shared, prefix)
            row.reads[i] = end - 1
    return row


@dataclass(frozen=True)
class Varlen:
    """One varlen (flash) attention call per layer for a whole row: every segment's queries, and its
    keys gathered as [prefix, own] so each segment's keys are contiguous; causal from the bottom right."""

    cu_q: Any
    cu_k: Any
    max_q: int
    max_k: int
    key_index: Any


@dataclass(frozen=True)
class Layout:
    """What the attention implementation is handed: the row's segments, and a Varlen plan on GPUs."""

    segments: list[tuple[int, int, int, int]]
    varlen: Varlen | None = None


def varlen_usable(backbone: Any) -> bool:
    """Whether packed rows of ``backbone`` can use flash varlen attention: CUDA on Ampere or newer,
    half precision, heads of at most 256, and a torch that has it (elsewhere the per-segment SDPA
    loop runs). Decided once, when packing is enabled."""
    import torch

    config = backbone.config
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    weight = next(backbone.parameters())
    device, dtype = weight.device, weight.dtype
    if head_dim > 256 or device.type != "cuda" or dtype not in (torch.float16, torch.bfloat16):
        return False
    if torch.cuda.get_device_capability(device) < (8, 0):  # flash attention needs Ampere or newer
        return False
    try:
        from torch.nn.attention.varlen import varlen_attn  # noqa: F401
    except ImportError:
        return False
    return True


def _varlen_plan(segments: Sequence[tuple[int, int, int, int]], device: Any) -> Varlen:
    import torch

    cu_q, cu_k, index, max_q, max_k = [0], [0], [], 0, 0
    for start, end, prefix_start, prefix_end in segments:
        index += [*range(prefix_start, prefix_end), *range(start, end)]
        cu_q.append(cu_q[-1] + end - start)
        cu_k.append(len(index))
        max_q, max_k = max(max_q, end - start), max(max_k, cu_k[-1] - cu_k[-2])
    return Varlen(
        cu_q=torch.tensor(cu_q, dtype=torch.int32, device=device),
        cu_k=torch.tensor(cu_k, dtype=torch.int32, device=device),
        max_q=max_q,
        max_k=max_k,
        key_index=torch.tensor(index, dtype=torch.long, device=device),
    )


def _varlen_attention(query: Any, key: Any, value: Any, plan: Varlen, scaling: Any) -> Any:
    """[1, heads, T, dim] in -> [1, T, heads, dim] out, as the attention interface returns it."""
    from torch.nn.attention.varlen import varlen_attn

    q = query[0].transpose(0, 1)
    k = key[0].transpose(0, 1)[plan.key_index]
    v = value[0].transpose(0, 1)[plan.key_index]
    out = varlen_attn(
        q.contiguous(),
        k.contiguous(),
        v.contiguous(),
        plan.cu_q,
        plan.cu_k,
        plan.max_q,
        plan.max_k,
        scale=scaling,
        window_size=(-1, 0),
        enable_gqa=q.shape[1] != k.shape[1],
    )
    return out.unsqueeze(0)


def packed_last_hidden(
    backbone: Any, sequences: Sequence[Sequence[int]], device: Any, *, varlen: bool = False, share: bool = True
) -> Any:
    """The backbone's last hidden state at each sequence's last token, [n, hidden], from one packed
    row in which shared prefixes are computed once (unless not ``share``); attention by one varlen
    flash call per layer when ``varlen`` (see ``varlen_usable``), else one SDPA per segment."""
    import torch

    row = pack(sequences, share=share)
    plan = _varlen_plan(row.segments, device) if varlen else None
    hidden = backbone(
        input_ids=torch.tensor([row.ids], device=device),
        position_ids=torch.tensor([row.positions], device=device),
        **{BOUNDS: Layout(row.segments, plan)},
    )[0]
    return hidden[0, row.reads]


class LastTokenPacking:
    """For LoadedModels that apply a linear head to a decoder backbone's hidden state at the last
    token: ``packing_backbone`` names the backbone; the rest is shared."""

    varlen = False
    """Packed rows use flash varlen attention (decided once, by ``varlen_usable``)."""

    def packing_backbone(self) -> Any:
        raise NotImplementedError

    def enable_packing(self) -> None:
        if self.head is None:  # type: ignore[attr-defined]
            self.info.packing = "off: the model applies its own head"  # type: ignore[attr-defined]
            return
        why = enable_packing(self.packing_backbone(), self.info.max_length)  # type: ignore[attr-defined]
        self.packed = why is None
        self.varlen = self.packed and varlen_usable(self.packing_backbone())
        self.info.packing = (
            "on: one padding-free row per batch, attention per sequence" if why is None else f"off: {why}"
        )  # type: ignore[attr-defined]

    def forward_packed(self, sequences: Sequence[Sequence[int]]) -> Any:
        backbone = self.packing_backbone()
        hidden = packed_last_hidden(backbone, sequences, self.device, varlen=self.varlen)  # type: ignore[attr-defined]
        return self.head(hidden).float()  # type: ignore[attr-defined]
