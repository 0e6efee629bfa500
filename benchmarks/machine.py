"""The machine's peak FLOP/s and the model's FLOPs per token: tokens/s as a fraction of what the CPU can do.

Peak FLOP/s = cores x clock x FLOPs per cycle per core, each read from what the machine reports:

- cores: the CPUs this process may run on (``os.sched_getaffinity``), counted as whole cores when
  /proc/cpuinfo says there is one thread per core (``siblings == cpu cores``), halved when two threads
  share a core (they share its vector units);
- clock: ``lscpu``'s "CPU max MHz" where it reports one (the highest boost), else the highest "cpu MHz"
  in /proc/cpuinfo (under a hypervisor: the nominal clock, which the cores may exceed when they boost;
  heavy AVX-512/AMX code may also run below it). ``mhz`` (the benchmark's ``--cpu-mhz``) overrides it;
- FLOPs per cycle per core, by the instruction set /proc/cpuinfo's flags report, for the dtype:

  | flags | float32 | bfloat16 |
  |---|---:|---:|
  | ``amx_bf16`` (Intel AMX tiles) | as the vector unit | 1024 |
  | ``avx512_bf16`` | as ``avx512f`` | 2 x ``avx512f`` |
  | ``avx512f`` | 64 (32 on 256-bit datapaths) | as float32 (bf16 is widened to fp32) |
  | ``avx2`` + ``fma`` | 32 | as float32 |
  | none of these (SSE) | 8 | as float32 |

  Vector figures are 2 FMA units x lanes x 2 FLOPs (a multiply and an add): 16 fp32 lanes for AVX-512,
  8 for AVX2; ``VDPBF16PS`` does two bf16 products per fp32 lane, twice the fp32 rate. AMD Zen 4 (family
  25 with AVX-512) runs 512-bit instructions on 256-bit datapaths, so its AVX-512 figures are halved.
  AMX: one ``TDPBF16PS`` (16 x 16 x 32 multiply-adds) per 16 cycles per core = 1024 FLOPs per cycle.
  Parts with one AVX-512 FMA unit have half the vector figures: nothing in /proc/cpuinfo says so, and
  the peak stays an upper bound.

FLOPs of a sequence of L tokens through a decoder-only model (``sequence_flops``): every token passes
through every linear layer (2 FLOPs per weight: multiply and add), and attention does QK^T and AV over
the tokens before it (causal: token i sees i + 1), i.e. 2 x 2 x heads x head_dim x (i + 1) per layer;
the score head runs on the last token only. Embedding lookups, norms and activations are not counted
(a few percent at this size).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CpuInfo",
    "Peak",
    "flops_per_cycle",
    "linear_params",
    "peak_flops",
    "read_cpuinfo",
    "sequence_flops",
    "tokens_flops",
]

FP32_LANES = {"avx512f": 16, "avx2": 8}
FMA_UNITS = 2
AMX_BF16_FLOPS_PER_CYCLE = 1024


@dataclass(frozen=True)
class CpuInfo:
    model: str
    vendor: str
    family: int | None
    flags: frozenset[str]
    cpus: int  # logical CPUs this process may run on
    threads_per_core: int
    mhz: float | None

    @property
    def cores(self) -> float:
        return self.cpus / max(1, self.threads_per_core)


@dataclass(frozen=True)
class Peak:
    dtype: str
    flops: float  # FLOP/s, the whole machine (the CPUs this process may use)
    cores: float
    ghz: float
    flops_per_cycle: int
    instruction_set: str
    how: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _field(block: str, name: str) -> str | None:
    found = re.search(rf"^{re.escape(name)}\s*:\s*(.*)$", block, re.MULTILINE)
    return found.group(1).strip() if found else None


def _lscpu_max_mhz() -> float | None:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"^CPU max MHz:\s*([\d.]+)", out, re.MULTILINE)
    return float(found.group(1)) if found and float(found.group(1)) > 0 else None


def read_cpuinfo(text: str | None = None, cpus: int | None = None, max_mhz: float | None = None) -> CpuInfo:
    """The facts the peak needs, from /proc/cpuinfo (or ``text``) and lscpu's max clock (or ``max_mhz``)."""
    if text is None:
        text = Path("/proc/cpuinfo").read_text()
        max_mhz = max_mhz or _lscpu_max_mhz()
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    blocks = [b for b in text.split("\n\n") if b.strip()]
    first = blocks[0] if blocks else ""
    mhz = [float(v) for b in blocks if (v := _field(b, "cpu MHz"))]
    siblings, cores = _field(first, "siblings"), _field(first, "cpu cores")
    threads = int(siblings) // int(cores) if siblings and cores and int(cores) > 0 else 1
    family = _field(first, "cpu family")
    return CpuInfo(
        model=_field(first, "model name") or "unknown",
        vendor=_field(first, "vendor_id") or "unknown",
        family=int(family) if family and family.isdigit() else None,
        flags=frozenset((_field(first, "flags") or "").split()),
        cpus=cpus,
        threads_per_core=max(1, threads),
        mhz=max_mhz or (max(mhz) if mhz else None),
    )


def _half_width_avx512(cpu: CpuInfo) -> bool:
    """AMD Zen 4 (family 25) runs AVX-512 on 256-bit datapaths; Zen 5 (26) has 512-bit ones."""
    return cpu.vendor == "AuthenticAMD" and cpu.family == 25


def flops_per_cycle(cpu: CpuInfo, dtype: str) -> tuple[int, str]:
    """(FLOPs per cycle per core, the instruction set that gives it) for matmuls in ``dtype``."""
    flags = cpu.flags
    if dtype == "bfloat16" and "amx_bf16" in flags:
        return AMX_BF16_FLOPS_PER_CYCLE, "amx_bf16"
    if "avx512f" in flags:
        lanes = FP32_LANES["avx512f"] // (2 if _half_width_avx512(cpu) else 1)
        name = "avx512f" + (" (256-bit datapaths)" if _half_width_avx512(cpu) else "")
        fp32 = FMA_UNITS * lanes * 2
        if dtype == "bfloat16" and "avx512_bf16" in flags:
            return 2 * fp32, "avx512_bf16" + name[len("avx512f") :]
        return fp32, name
    if "avx2" in flags and "fma" in flags:
        return FMA_UNITS * FP32_LANES["avx2"] * 2, "avx2+fma"
    return 8, "sse"


def peak_flops(dtype: str, cpu: CpuInfo | None = None, mhz: float | None = None) -> Peak | None:
    """The machine's peak FLOP/s for ``dtype`` matmuls, at ``mhz`` if given (None where the clock is unknown)."""
    cpu = cpu or read_cpuinfo()
    mhz = mhz or cpu.mhz
    if not mhz:
        return None
    per_cycle, isa = flops_per_cycle(cpu, dtype)
    ghz = mhz / 1000
    flops = cpu.cores * ghz * 1e9 * per_cycle
    given = " (as given)" if mhz != cpu.mhz else ""
    how = (
        f"{cpu.cores:g} cores x {ghz:.2f} GHz{given} x {per_cycle} {dtype} FLOPs/cycle ({isa}, from "
        f"/proc/cpuinfo's flags on {cpu.model}) = {flops / 1e12:.2f} TFLOP/s"
    )
    return Peak(dtype, flops, cpu.cores, ghz, per_cycle, isa, how)


def linear_params(config: Mapping[str, Any]) -> int:
    """Weights of the linear layers one token passes through (attention, MLP; not embeddings, not the head)."""
    hidden = config["hidden_size"]
    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim") or hidden // heads
    kv_heads = config.get("num_key_value_heads") or heads
    attention = hidden * head_dim * (2 * heads + 2 * kv_heads)  # q and o, k and v
    mlp = 3 * hidden * config["intermediate_size"]  # gate, up, down
    return config["num_hidden_layers"] * (attention + mlp)


def sequence_flops(config: Mapping[str, Any], length: int) -> float:
    """FLOPs of one forward pass over a sequence of ``length`` tokens, score head included."""
    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    linear = 2.0 * linear_params(config) * length
    # token i attends to i + 1 tokens: sum over i = L (L + 1) / 2; QK^T and AV, 2 FLOPs each
    attention = 4.0 * config["num_hidden_layers"] * heads * head_dim * length * (length + 1) / 2
    head = 2.0 * config["hidden_size"] * (config.get("num_labels") or len(config.get("id2label") or ()) or 1)
    return linear + attention + head


def tokens_flops(config: Mapping[str, Any], lengths: Iterable[int]) -> float:
    """FLOPs of scoring sequences of these token counts, each on its own (no prefix reuse)."""
    return sum(sequence_flops(config, n) for n in lengths)
