"""Attention confined to the segments of a packed row, as one torch custom op.

Each segment's queries attend causally to its own keys and, when it continues a shared prefix, to
all of the prefix's keys first (causal from the bottom right), at the positions it would have had
alone. On CPU that is one call of rewardkit's native kernel for the whole row (models/
native_attention.py; one SDPA call per segment where it cannot be built); on CUDA (Ampere or newer,
half precision) one flash varlen call for the whole row, elsewhere one SDPA call per segment. (Attention as two
batched matrix products around a float32 softmax was measured against the CPU flash kernel in
bf16: no faster on server-sized batches, 1.01x median, and twice the error at the attention output,
since it rounds the scores to bf16; see benchmarks/RESULTS.md.)

Being a custom op, the whole computation is opaque to ``torch.compile``: a compiled decoder layer
sees a tensor in and a tensor out, whatever the row's segment layout, so a new layout never
recompiles anything (see models/compiling.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ATTENTION", "BOUNDS", "Layout", "attend_segments", "layout_for", "register", "varlen_usable"]

ATTENTION = "rewardkit_packed"
"""The attention implementation name the packed backbone is switched to."""
BOUNDS = "rewardkit_segments"
"""The forward keyword that carries a row's Layout to every attention layer."""

_registered = False


@dataclass(frozen=True)
class Layout:
    """A row's segments as tensors (what a compiled graph may take as inputs): ``segments`` [S, 4]
    int64 on the CPU, each (start, end, prefix_start, prefix_end); with flash varlen also the keys'
    gather index and the cumulative query/key lengths [2, S+1] on the device (else empty)."""

    segments: Any
    key_index: Any
    cumulative: Any


def varlen_usable(backbone: Any) -> bool:
    """Whether packed rows of ``backbone`` can use flash varlen attention: CUDA on Ampere or newer,
    half precision, heads of at most 256, and a torch that has it (elsewhere the per-segment SDPA
    loop runs). Decided once, when packing is enabled."""
    import torch

    from rewardkit.models.backbone import head_dim

    weight = next(backbone.parameters())
    device, dtype = weight.device, weight.dtype
    if head_dim(backbone.config) > 256 or device.type != "cuda" or dtype not in (torch.float16, torch.bfloat16):
        return False
    if torch.cuda.get_device_capability(device) < (8, 0):  # flash attention needs Ampere or newer
        return False
    try:
        from torch.nn.attention.varlen import varlen_attn  # noqa: F401
    except ImportError:
        return False
    return True


def layout_for(segments: Sequence[tuple[int, int, int, int]], device: Any, varlen: bool) -> Layout:
    """The Layout of a row; with ``varlen`` the flash plan is built here, once per forward, not per layer."""
    import torch

    bounds = torch.tensor(segments, dtype=torch.long).reshape(-1, 4)
    empty = torch.empty(0, dtype=torch.long, device=device)
    if not varlen:
        return Layout(bounds, empty, empty)
    cu_q, cu_k, index = [0], [0], []
    for start, end, prefix_start, prefix_end in segments:
        index += [*range(prefix_start, prefix_end), *range(start, end)]
        cu_q.append(cu_q[-1] + end - start)
        cu_k.append(len(index))
    return Layout(
        bounds,
        torch.tensor(index, dtype=torch.long, device=device),
        torch.tensor([cu_q, cu_k], dtype=torch.int32, device=device),
    )


def attend_segments(
    query: Any,
    key: Any,
    value: Any,
    segments: Sequence[Sequence[int]],
    scale: float,
    cached: tuple[Any, Any] | None = None,
    *,
    native: bool = True,
    token_major: bool = False,
) -> Any:
    """[1, heads, T, dim] queries and [1, kv_heads, T, dim] keys and values -> [1, heads, T, dim]:
    on CPU the native kernel (models/native_attention.py) in one call for every segment, elsewhere
    (or with ``native`` False, or where it cannot be built) one SDPA call per segment, grouped-query
    heads shared without copies. A segment of six (models/prefix_cache.CachedRow) also attends
    first to its span of ``cached`` keys and values ([kv_heads, C, dim] each), the prefix an earlier
    forward computed. The result is contiguous, or with ``token_major`` (native kernel only) a view
    of a contiguous [T, heads, dim], so that the output projection reads it without a copy."""
    import torch
    from torch.nn.attention.bias import causal_lower_right

    from rewardkit.models import native_attention

    if native and native_attention.usable(query[0], key[0]):
        heads, total, dim = query.shape[1:]
        out = query.new_empty(total, heads, dim).transpose(0, 1) if token_major else None
        return native_attention.attend(query[0], key[0], value[0], segments, scale, cached, out)[None]

    attend = torch.nn.functional.scaled_dot_product_attention
    gqa = query.shape[1] != key.shape[1]
    out = query.new_empty(query.shape)  # contiguous, as the op's fake says
    for segment in segments:
        start, end, prefix_start, prefix_end = segment[:4]
        own = slice(start, end)
        keys, values = [], []
        if len(segment) > 4 and segment[5] > segment[4]:
            earlier = slice(segment[4], segment[5])
            keys.append(cached[0][None, :, earlier])  # type: ignore[index]
            values.append(cached[1][None, :, earlier])  # type: ignore[index]
        if prefix_end > prefix_start:
            keys.append(key[:, :, prefix_start:prefix_end])
            values.append(value[:, :, prefix_start:prefix_end])
        if not keys:
            q, k, v = query[:, :, own], key[:, :, own], value[:, :, own]
            out[:, :, own] = attend(q, k, v, is_causal=True, scale=scale, enable_gqa=gqa)
            continue
        k = torch.cat([*keys, key[:, :, own]], dim=2)
        v = torch.cat([*values, value[:, :, own]], dim=2)
        mask = causal_lower_right(end - start, k.shape[2])  # all of the prefix, then causal
        out[:, :, own] = attend(query[:, :, own], k, v, attn_mask=mask, scale=scale, enable_gqa=gqa)
    return out


def _varlen(query: Any, key: Any, value: Any, layout: Layout, lengths: list[list[int]], scale: float) -> Any:
    from torch.nn.attention.varlen import varlen_attn

    q = query[0].transpose(0, 1)
    k = key[0].transpose(0, 1)[layout.key_index]
    v = value[0].transpose(0, 1)[layout.key_index]
    max_q = max(end - start for start, end, _, _ in lengths)
    max_k = max(end - start + prefix_end - prefix_start for start, end, prefix_start, prefix_end in lengths)
    out = varlen_attn(
        q.contiguous(),
        k.contiguous(),
        v.contiguous(),
        layout.cumulative[0],
        layout.cumulative[1],
        max_q,
        max_k,
        scale=scale,
        window_size=(-1, 0),
        enable_gqa=q.shape[1] != k.shape[1],
    )
    return out.transpose(0, 1).unsqueeze(0).contiguous()


def register() -> None:
    """Define the custom op and register it as the transformers attention implementation ATTENTION
    (plain SDPA, transformers' default, whenever a forward carries no Layout: the padded path)."""
    global _registered
    if _registered:
        return
    import torch
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface, sdpa_mask

    schema = (
        "(Tensor query, Tensor key, Tensor value, Tensor segments, Tensor key_index, Tensor cumulative, "
        "float scale) -> Tensor"
    )

    @torch.library.custom_op("rewardkit::segment_attention", mutates_args=(), schema=schema)
    def segment_attention(
        query: Any, key: Any, value: Any, segments: Any, key_index: Any, cumulative: Any, scale: float
    ) -> Any:
        """[1, heads, T, dim] queries, [1, kv_heads, T, dim] keys and values -> [1, heads, T, dim]."""
        bounds = segments.tolist()
        if key_index.numel():
            return _varlen(query, key, value, Layout(segments, key_index, cumulative), bounds, scale)
        return attend_segments(query, key, value, bounds, scale)

    @segment_attention.register_fake
    def _(query: Any, key: Any, value: Any, segments: Any, key_index: Any, cumulative: Any, scale: float) -> Any:
        return query.new_empty(query.shape)

    def packed_attention(
        module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: Any = None, **kwargs: Any
    ) -> tuple[Any, None]:
        layout = kwargs.pop(BOUNDS, None)
        if layout is None:
            return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, **kwargs)
        scale = float(scaling if scaling is not None else query.shape[-1] ** -0.5)
        out = segment_attention(query, key, value, layout.segments, layout.key_index, layout.cumulative, scale)
        return out.transpose(1, 2).contiguous(), None

    def mask_unless_packed(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("attention_mask") is None:
            return None  # packed: segment bounds confine attention, no dense mask is built
        return sdpa_mask(*args, **kwargs)

    AttentionInterface.register(ATTENTION, packed_attention)
    AttentionMaskInterface.register(ATTENTION, mask_unless_packed)
    assert ATTENTION in ALL_MASK_ATTENTION_FUNCTIONS._global_mapping
    _registered = True
