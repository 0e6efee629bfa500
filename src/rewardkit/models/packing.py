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
switched to segment attention (models/segment_attention.py), which confines attention to segments
when the forward carries a row's Layout and is plain SDPA (the default implementation) otherwise, so
the padded path is unchanged. Formats say where their reward is read (the last token, a DeepSpeed-Chat
pad rule, every step separator of a process reward model); the row maps those sequence positions to
row positions, inside the shared prefix or the sequence's own segment.
Only architectures whose attention is plain causal softmax attention are packed (no sliding window,
no logit soft-capping); anything else keeps the padded path and says why (``/info``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rewardkit.models.fused_decoder import FusedDecoder, fusable
from rewardkit.models.native_attention import describe as attention_kernel
from rewardkit.models.prefix_cache import PrefixCache
from rewardkit.models.segment_attention import ATTENTION, BOUNDS, layout_for, register, varlen_usable

__all__ = ["MIN_SHARED", "PACKABLE_TYPES", "Packing", "Row", "enable_packing", "pack", "packed_hidden"]

MIN_SHARED = 8
"""Fewest shared leading tokens worth computing once (below it the bookkeeping costs more)."""
PACKABLE_TYPES = frozenset({"llama", "qwen2", "qwen3", "mistral"})
"""Model types whose attention is plain causal attention through the attention interface."""


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
    register()
    backbone.set_attn_implementation(ATTENTION)
    return None


@dataclass
class Row:
    """A packed row: token ids, their positions, the attention segments, and where each input
    sequence lies: (prefix start, shared length, own segment start, length)."""

    ids: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    segments: list[tuple[int, int, int, int]] = field(default_factory=list)
    places: list[tuple[int, int, int, int]] = field(default_factory=list)

    def add(self, tokens: Sequence[int], first_position: int, prefix: tuple[int, int] = (0, 0)) -> tuple[int, int]:
        """Append a segment that attends to ``prefix`` (a span already in the row) and to itself."""
        start = len(self.ids)
        self.ids.extend(tokens)
        self.positions.extend(range(first_position, first_position + len(tokens)))
        self.segments.append((start, len(self.ids), *prefix))
        return start, len(self.ids)

    def at(self, sequence: int, position: int) -> int:
        """Where token ``position`` of input ``sequence`` sits in the row."""
        prefix_start, shared, own_start, _ = self.places[sequence]
        return prefix_start + position if position < shared else own_start + position - shared

    @property
    def reads(self) -> list[int]:
        """Each input sequence's last token in the row."""
        return [self.at(i, place[3] - 1) for i, place in enumerate(self.places)]


def _shared_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def pack(sequences: Sequence[Sequence[int]], share: bool = True) -> Row:
    """One row for ``sequences``; with ``share``, sequences with a common prefix of at least
    MIN_SHARED tokens are grouped and the prefix is placed once. A sequence is never cut inside its
    last token: a continuation keeps at least one token, so every sequence has a segment of its own."""
    row = Row(places=[(0, 0, 0, 0)] * len(sequences))
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
                start, _ = row.add(sequences[i], 0)
                row.places[i] = (start, 0, start, len(sequences[i]))
            continue
        prefix = row.add(sequences[members[0]][:shared], 0)
        for i in members:
            start, _ = row.add(sequences[i][shared:], shared, prefix)
            row.places[i] = (prefix[0], shared, start, len(sequences[i]))
    return row


def packed_hidden(
    backbone: Any,
    sequences: Sequence[Sequence[int]],
    device: Any,
    reads: Sequence[Sequence[int]] | None = None,
    *,
    varlen: bool = False,
    share: bool = True,
    bucket: Callable[[int], int] | None = None,
    fused: FusedDecoder | None = None,
    prefix_cache: PrefixCache | None = None,
) -> Any:
    """The backbone's last hidden states at ``reads`` (positions in each sequence; by default its
    last token), stacked in order, [total reads, hidden], from one packed row in which shared
    prefixes are computed once (unless not ``share``). With ``fused`` (the backbone's FusedDecoder)
    the row runs through it; otherwise through the backbone's modules, attention one flash varlen
    call per layer when ``varlen`` (see ``varlen_usable``). Elsewhere attention is one SDPA call per
    segment. ``bucket`` rounds the row's length up (compiled forwards see a bounded set of shapes);
    the filler is a segment never read. A ``prefix_cache`` (with ``fused`` only) supplies the keys
    and values of prefixes earlier rows computed, and keeps this row's."""
    import torch

    row = pack(sequences, share=share)
    if reads is None:
        reads = [[len(s) - 1] for s in sequences]
    index = [row.at(i, p) for i, positions in enumerate(reads) for p in positions]
    if fused is not None and prefix_cache is not None:
        plan = prefix_cache.plan(row.ids, row.positions, row.segments, index)
        ids, positions = torch.tensor(plan.ids, device=device), torch.tensor(plan.positions, device=device)
        try:
            hidden = fused(ids, positions, plan.segments, torch.tensor(plan.reads, device=device), plan)
        except BaseException:
            plan.abandon()
            raise
        plan.commit()
        return hidden
    if fused is not None:
        ids, positions = torch.tensor(row.ids, device=device), torch.tensor(row.positions, device=device)
        return fused(ids, positions, row.segments, torch.tensor(index, device=device))
    ids, positions, segments = row.ids, row.positions, row.segments
    width = bucket(len(ids)) if bucket else len(ids)
    if width > len(ids):
        filler = width - len(ids)
        segments = [*segments, (len(ids), width, 0, 0)]
        ids, positions = [*ids, *[ids[-1]] * filler], [*positions, *range(filler)]
    hidden = backbone(
        input_ids=torch.tensor([ids], device=device),
        position_ids=torch.tensor([positions], device=device),
        use_cache=False,
        **{BOUNDS: layout_for(segments, device, varlen)},
    )[0]
    return hidden[0, torch.tensor(index, device=device)]


class Packing:
    """For LoadedModels that apply a linear head to a decoder backbone's last hidden states:
    ``packing_backbone`` names the backbone and ``read_positions`` where a sequence's reward is read
    (its last token unless the format says otherwise); the rest is shared."""

    varlen = False
    """Packed rows use flash varlen attention (decided once, by ``varlen_usable``)."""
    bucket: Callable[[int], int] | None = None
    """Rounds row lengths up when the forward is compiled (models/compiling.py)."""
    fused: FusedDecoder | None = None
    """The backbone's fused forward (models/fused_decoder.py), when it has one and it is wanted."""
    prefix_cache: PrefixCache | None = None
    """Keys and values of earlier rows by prefix (models/prefix_cache.py), beside the fused forward."""

    def release_weights(self) -> None:
        """Also drop the fused forward, which holds the fused and prepacked copies of the weights,
        and the prefix cache."""
        self.fused = None
        self.prefix_cache = None
        super().release_weights()  # type: ignore[misc]

    @property
    def cached_tokens(self) -> int:
        return self.prefix_cache.hit_tokens if self.prefix_cache is not None else 0

    def packing_backbone(self) -> Any:
        """The decoder whose hidden states the head reads: each format that mixes Packing in names it."""
        raise NotImplementedError(f"{type(self).__name__} mixes in Packing but does not name its backbone")

    def read_positions(self, ids: Sequence[int]) -> list[int]:
        return [len(ids) - 1]

    def enable_packing(self, fuse: bool = True, prefix_cache_bytes: int = 0) -> None:
        """Packed rows when the architecture allows it; with ``fuse``, through the backbone's
        FusedDecoder where it has one (on devices without flash varlen attention, i.e. CPUs), and
        with ``prefix_cache_bytes`` a prefix cache of that size beside it."""
        info = self.info  # type: ignore[attr-defined]
        info.prefix_cache = "off: the model is not packed"
        if self.head is None:  # type: ignore[attr-defined]
            info.packing = "off: the model applies its own head"
            return
        backbone = self.packing_backbone()
        why = enable_packing(backbone, info.max_length)
        self.packed = why is None
        self.varlen = self.packed and varlen_usable(backbone)
        if not self.packed:
            info.packing = f"off: {why}"
            return
        info.packing = f"on: one padding-free row per batch, attention per sequence ({attention_kernel(backbone)})"
        unfused = fusable(backbone) if fuse else "--no-fused-forward"
        if unfused is None and self.varlen:
            unfused = "flash varlen attention through the transformers modules is used on this device"
        if unfused is None:
            self.fused = FusedDecoder(backbone)
            info.packing += f"; fused forward ({self.fused.describe()})"
        else:
            info.packing += f"; transformers modules ({unfused})"
        if prefix_cache_bytes <= 0:
            info.prefix_cache = "off: --no-enable-prefix-caching"
        elif self.fused is None:
            info.prefix_cache = "off: only the fused forward keeps keys and values by prefix"
        else:
            self.prefix_cache = self.fused.prefix_cache(prefix_cache_bytes)
            info.prefix_cache = f"on: {self.prefix_cache.describe()}"

    def packed_head(self, sequences: Sequence[Sequence[int]], reads: Sequence[Sequence[int]]) -> Any:
        """The head's float outputs at ``reads``, stacked in order: [total reads, outputs]."""
        backbone = self.packing_backbone()
        device = self.device  # type: ignore[attr-defined]
        hidden = packed_hidden(
            backbone,
            sequences,
            device,
            reads,
            varlen=self.varlen,
            bucket=self.bucket,
            fused=self.fused,
            prefix_cache=self.prefix_cache,
        )
        return self.head(hidden).float()  # type: ignore[attr-defined]

    def forward_packed(self, sequences: Sequence[Sequence[int]]) -> Any:
        return self.packed_head(sequences, [self.read_positions(ids) for ids in sequences])
