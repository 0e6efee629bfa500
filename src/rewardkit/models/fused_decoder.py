"""A Llama-family decoder's packed forward with its weights laid out once for the device's kernels.

The packed forward through transformers' modules spends most of its CPU time outside the matrix
products: dtype casts around every norm, rotary and SiLU as chains of small elementwise ops, and a
Python hop per module. This module reads a loaded transformers backbone (Llama, Qwen2, Qwen3,
Mistral) once and runs the same arithmetic over a packed row with:

- the query/key/value projections fused into one matrix, and gate/up into another, so each layer
  runs four matrix products instead of seven;
- on CPU, every weight prepacked once by oneDNN into the blocked layout its GEMM kernels read
  (``torch.ops.mkldnn._linear_pointwise``), where this torch build has it;
- in bf16/fp16 models, the residual stream (and the norms that read it) in float32, the linears and
  attention on its bf16 normalizations: each layer's output is added without rounding the sum, which
  brings bf16 rewards about 2.5x closer to float32 arithmetic than a bf16 residual (benchmarks/
  RESULTS.md) for no measurable time; the final hidden states come out in float32;
- RMSNorm as one fused kernel (``torch.nn.functional.rms_norm``), rotary over queries and keys at
  once, and attention over every segment of the row in one call of the native kernel (models/
  segment_attention.py, models/native_attention.py), which writes token-major output the output
  projection reads without a copy.

It knows nothing of heads, formats, batching or text: token ids, positions and a row's Layout in,
the final hidden states out. It holds views of the backbone's own tensors wherever it can (the
fused matrices replace the separate ones inside the backbone, which keeps working unchanged), so
it costs no second copy of the model, except the prepacked CPU weights, which replace the plain
ones for the packed path only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rewardkit.models.backbone import head_dim

if TYPE_CHECKING:
    from rewardkit.models.prefix_cache import CachedRow, PrefixCache

__all__ = ["FUSABLE_TYPES", "FusedDecoder", "fusable"]

FUSABLE_TYPES = frozenset({"llama", "qwen2", "qwen3", "mistral"})
"""Model types whose decoder layer is exactly: RMSNorm, rotary attention, RMSNorm, gated MLP."""


def fusable(backbone: Any) -> str | None:
    """None when ``backbone`` can run as a FusedDecoder, else why not (said in /info)."""
    config = getattr(backbone, "config", None)
    model_type = getattr(config, "model_type", None)
    if model_type not in FUSABLE_TYPES:
        return f"model type {model_type!r} has no fused forward"
    layers = getattr(backbone, "layers", None)
    if not layers or getattr(backbone, "rotary_emb", None) is None or getattr(backbone, "norm", None) is None:
        return "the backbone does not have the layers/rotary_emb/norm layout of a Llama-family decoder"
    first = layers[0]
    attention, mlp = getattr(first, "self_attn", None), getattr(first, "mlp", None)
    needed = (
        (attention, ("q_proj", "k_proj", "v_proj", "o_proj")),
        (mlp, ("gate_proj", "up_proj", "down_proj")),
        (first, ("input_layernorm", "post_attention_layernorm")),
    )
    for module, names in needed:
        if module is None or any(getattr(module, name, None) is None for name in names):
            return "a decoder layer does not have the projections and norms of a Llama-family layer"
    return None


class _Linear:
    """One matrix product, ``x @ weight.T + bias``, through the fastest kernel the device offers."""

    def __init__(self, weight: Any, bias: Any, prepack: bool) -> None:
        import torch

        self.bias = bias
        self.packed = None
        self.weight = weight
        if prepack:
            self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach())

    def __call__(self, x: Any) -> Any:
        import torch
        import torch.nn.functional as F

        if self.packed is not None:
            return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")
        return F.linear(x, self.weight, self.bias)


def _fuse(modules: list[Any], attr: str) -> Any:
    """Concatenate the modules' ``attr`` tensors (None when none has one) and make each module's a view."""
    import torch

    parts = [getattr(m, attr, None) for m in modules]
    if all(p is None for p in parts):
        return None
    if any(p is None for p in parts):
        raise ValueError(f"only some projections have a {attr}")
    fused = torch.cat([p.detach() for p in parts], dim=0)
    start = 0
    for module, part in zip(modules, parts):
        end = start + part.shape[0]
        setattr(module, attr, torch.nn.Parameter(fused[start:end], requires_grad=False))
        start = end
    return fused


@dataclass
class _Layer:
    norm_in: Any
    norm_in_eps: float
    qkv: _Linear
    q_norm: Any
    k_norm: Any
    out: _Linear
    norm_post: Any
    norm_post_eps: float
    gate_up: _Linear
    down: _Linear
    act: Any


def _norm_eps(module: Any) -> float:
    for name in ("variance_epsilon", "eps"):
        value = getattr(module, name, None)
        if value is not None:
            return float(value)
    raise ValueError(f"{type(module).__name__} has no epsilon")


def _prepack_usable(weight: Any) -> bool:
    """oneDNN prepacked linears: CPU, float32 or bfloat16, and the op present in this torch build."""
    import torch

    if weight.device.type != "cpu" or weight.dtype not in (torch.float32, torch.bfloat16):
        return False
    if not torch.backends.mkldnn.is_available():
        return False
    if weight.dtype == torch.bfloat16 and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return False
    return hasattr(torch.ops.mkldnn, "_reorder_linear_weight") and hasattr(torch.ops.mkldnn, "_linear_pointwise")


class FusedDecoder:
    """The packed forward of a Llama-family ``backbone`` (see the module docstring)."""

    def __init__(self, backbone: Any, *, prepack: bool | None = None) -> None:
        import torch
        import torch.nn.functional as F

        why = fusable(backbone)
        if why is not None:
            raise ValueError(why)
        config = backbone.config
        self.backbone = backbone
        self.heads = int(config.num_attention_heads)
        self.kv_heads = int(getattr(config, "num_key_value_heads", None) or self.heads)
        self.head_dim = head_dim(config)
        first = backbone.layers[0].self_attn.q_proj.weight
        self.prepack = _prepack_usable(first) if prepack is None else prepack
        # half-precision models keep the residual stream (and the norms that read it) in float32
        self.residual_dtype = torch.float32 if first.dtype in (torch.bfloat16, torch.float16) else first.dtype
        self.layers: list[_Layer] = []
        for layer in backbone.layers:
            attn, mlp = layer.self_attn, layer.mlp
            projections = [attn.q_proj, attn.k_proj, attn.v_proj]
            qkv = _Linear(_fuse(projections, "weight"), _fuse(projections, "bias"), self.prepack)
            gate_up_modules = [mlp.gate_proj, mlp.up_proj]
            gate_up = _Linear(_fuse(gate_up_modules, "weight"), _fuse(gate_up_modules, "bias"), self.prepack)
            act = getattr(mlp, "act_fn", None)
            self.layers.append(
                _Layer(
                    norm_in=layer.input_layernorm.weight.to(self.residual_dtype),
                    norm_in_eps=_norm_eps(layer.input_layernorm),
                    qkv=qkv,
                    q_norm=getattr(attn, "q_norm", None),
                    k_norm=getattr(attn, "k_norm", None),
                    out=_Linear(attn.o_proj.weight, attn.o_proj.bias, self.prepack),
                    norm_post=layer.post_attention_layernorm.weight.to(self.residual_dtype),
                    norm_post_eps=_norm_eps(layer.post_attention_layernorm),
                    gate_up=gate_up,
                    down=_Linear(mlp.down_proj.weight, mlp.down_proj.bias, self.prepack),
                    act=F.silu if getattr(config, "hidden_act", "silu") == "silu" or act is None else act,
                )
            )
        self.scaling = float(getattr(backbone.layers[0].self_attn, "scaling", self.head_dim**-0.5))
        self.final_norm = backbone.norm.weight.to(self.residual_dtype)
        self.final_eps = _norm_eps(backbone.norm)
        self.dtype = first.dtype

    def prefix_cache(self, capacity_bytes: int) -> PrefixCache:
        """An empty prefix cache (models/prefix_cache.py) shaped for this forward's keys and values."""
        from rewardkit.models.prefix_cache import PrefixCache

        weight = self.final_norm
        return PrefixCache(
            layers=len(self.layers),
            kv_heads=self.kv_heads,
            head_dim=self.head_dim,
            dtype=self.dtype,
            device=weight.device,
            capacity_bytes=capacity_bytes,
        )

    def describe(self) -> str:
        """What /info says about this forward."""
        weights = "weights prepacked for oneDNN" if self.prepack else "plain weights"
        return f"{len(self.layers)} layers, QKV and gate/up fused, {weights}"

    def __call__(
        self,
        ids: Any,
        positions: Any,
        segments: Sequence[Sequence[int]],
        rows: Any,
        prefix: CachedRow | None = None,
    ) -> Any:
        """Final hidden states [len(rows), hidden] at the row positions ``rows`` of a packed row:
        ``ids`` and ``positions`` [T] on the device, ``segments`` the row's (start, end, prefix start,
        prefix end) (models/packing.Row). With ``prefix`` (models/prefix_cache.CachedRow) segments
        also attend to cached keys and values, and the row's new blocks are kept as each layer
        computes them. The final norm runs on the ``rows`` only; half-precision models return
        float32 (their residual stream's dtype)."""
        import torch.nn.functional as F

        from rewardkit.models.segment_attention import attend_segments

        hidden = self.backbone.embed_tokens(ids)
        cos, sin = self.backbone.rotary_emb(hidden[None], positions[None])
        cos, sin = _rotary_tables(cos, sin)
        low = hidden.dtype  # what the linears and attention take
        hidden = hidden.to(self.residual_dtype)
        total, width = ids.shape[0], hidden.shape[-1]
        heads, kv_heads, dim = self.heads, self.kv_heads, self.head_dim
        q_width, kv_width = heads * dim, kv_heads * dim
        for number, layer in enumerate(self.layers):
            normed = F.rms_norm(hidden, (width,), layer.norm_in, layer.norm_in_eps).to(low)
            qkv = layer.qkv(normed)
            # head-major [heads, T, dim]: each segment of each head is one contiguous block for attention
            if layer.q_norm is None:  # queries and keys rotated in one pass
                stacked = qkv[:, : q_width + kv_width].view(total, heads + kv_heads, dim)
                both = _rotate(stacked.transpose(0, 1), cos, sin)
                query, key = both[:heads], both[heads:]
            else:
                query = layer.q_norm(qkv[:, :q_width].view(total, heads, dim)).transpose(0, 1)
                key = layer.k_norm(qkv[:, q_width : q_width + kv_width].view(total, kv_heads, dim)).transpose(0, 1)
                query, key = _rotate(query, cos, sin), _rotate(key, cos, sin)
            value = qkv[:, q_width + kv_width :].view(total, kv_heads, dim).transpose(0, 1).contiguous()
            cached = None
            if prefix is not None:
                prefix.keep(number, key, value)
                cached = prefix.cached_layer(number)
            attended = attend_segments(
                query[None], key[None], value[None], segments, self.scaling, cached, token_major=True
            )[0]
            hidden.add_(layer.out(attended.transpose(0, 1).reshape(total, q_width)))
            normed = F.rms_norm(hidden, (width,), layer.norm_post, layer.norm_post_eps).to(low)
            gate_up = layer.gate_up(normed)
            half = gate_up.shape[-1] // 2
            activated = layer.act(gate_up[:, :half])
            hidden.add_(layer.down(activated.mul_(gate_up[:, half:])))
        return F.rms_norm(hidden[rows], (width,), self.final_norm, self.final_eps)


def _rotary_tables(cos: Any, sin: Any) -> tuple[Any, Any]:
    """[1, T, head_dim] tables (broadcast over heads), with rotate_half's sign folded into ``sin``."""
    import torch

    half = sin.shape[-1] // 2
    return cos, torch.cat((-sin[..., :half], sin[..., half:]), dim=-1)


def _rotate(x: Any, cos: Any, signed_sin: Any) -> Any:
    """Rotary embedding as transformers applies it (x * cos + rotate_half(x) * sin), with the halves
    swapped by one copy and the sign already in ``signed_sin``."""
    import torch

    half = x.shape[-1] // 2
    swapped = torch.cat((x[..., half:], x[..., :half]), dim=-1)
    return torch.addcmul(x * cos, swapped, signed_sin)
