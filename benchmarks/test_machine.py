"""machine.py's peak and FLOP counts on fixed /proc/cpuinfo texts (not part of the test suite):

.venv/bin/python -m pytest benchmarks/test_machine.py
"""

from __future__ import annotations

import pytest
from bench_model import SMOLLM2_SHAPE
from machine import flops_per_cycle, linear_params, peak_flops, read_cpuinfo, sequence_flops, tokens_flops


def _cpuinfo(vendor: str, family: int, model: str, flags: str, mhz: float, siblings: int, cores: int) -> str:
    block = (
        f"processor\t: {{i}}\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel name\t: {model}\n"
        f"cpu MHz\t\t: {mhz}\nsiblings\t: {siblings}\ncpu cores\t: {cores}\nflags\t\t: {flags}\n"
    )
    return "\n".join(block.format(i=i) for i in range(siblings))


SAPPHIRE_RAPIDS = _cpuinfo(
    "GenuineIntel",
    6,
    "Intel(R) Xeon(R) Platinum 8481C",
    "fpu avx avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile",
    2000.0,
    2,
    1,
)
ZEN4 = _cpuinfo("AuthenticAMD", 25, "AMD EPYC", "fpu avx avx2 fma avx512f avx512_bf16", 2596.142, 2, 2)
ZEN5 = _cpuinfo("AuthenticAMD", 26, "AMD EPYC", "fpu avx avx2 fma avx512f avx512_bf16", 3000.0, 4, 4)
SKYLAKE = _cpuinfo("GenuineIntel", 6, "Intel(R) Xeon(R) Gold 6148", "fpu avx avx2 fma avx512f", 2400.0, 4, 4)
HASWELL = _cpuinfo("GenuineIntel", 6, "Intel(R) Xeon(R) E5-2680 v3", "fpu avx avx2 fma", 2500.0, 4, 4)
OLD = _cpuinfo("GenuineIntel", 6, "Intel(R) Core(TM)2", "fpu sse sse2", 2000.0, 1, 1)


@pytest.mark.parametrize(
    ("text", "dtype", "per_cycle", "isa"),
    [
        (SAPPHIRE_RAPIDS, "bfloat16", 1024, "amx_bf16"),
        (SAPPHIRE_RAPIDS, "float32", 64, "avx512f"),
        (ZEN4, "bfloat16", 64, "avx512_bf16 (256-bit datapaths)"),
        (ZEN4, "float32", 32, "avx512f (256-bit datapaths)"),
        (ZEN5, "bfloat16", 128, "avx512_bf16"),
        (ZEN5, "float32", 64, "avx512f"),
        (SKYLAKE, "bfloat16", 64, "avx512f"),  # no bf16 units: bf16 runs as fp32
        (HASWELL, "float32", 32, "avx2+fma"),
        (HASWELL, "bfloat16", 32, "avx2+fma"),
        (OLD, "float32", 8, "sse"),
    ],
)
def test_flops_per_cycle_follows_the_flags(text: str, dtype: str, per_cycle: int, isa: str) -> None:
    assert flops_per_cycle(read_cpuinfo(text, cpus=1), dtype) == (per_cycle, isa)


def test_peak_is_cores_times_clock_times_flops_per_cycle() -> None:
    peak = peak_flops("bfloat16", read_cpuinfo(ZEN4, cpus=2))
    assert peak is not None
    assert peak.flops == pytest.approx(2 * 2.596142e9 * 64)
    assert "2 cores x 2.60 GHz x 64 bfloat16 FLOPs/cycle (avx512_bf16" in peak.how


def test_hyperthreads_share_a_core_and_lscpu_max_clock_wins() -> None:
    cpu = read_cpuinfo(SAPPHIRE_RAPIDS, cpus=2, max_mhz=3800.0)
    assert cpu.cores == 1
    peak = peak_flops("bfloat16", cpu)
    assert peak is not None and peak.flops == pytest.approx(1 * 3.8e9 * 1024)


def test_unknown_clock_gives_no_peak_unless_given() -> None:
    cpu = read_cpuinfo("flags\t: avx2 fma\n", cpus=2)
    assert peak_flops("float32", cpu) is None
    peak = peak_flops("float32", cpu, mhz=3000.0)
    assert peak is not None and peak.flops == pytest.approx(2 * 3e9 * 32) and "(as given)" in peak.how


def test_smollm2_shape_costs_about_0_21_gflop_per_token() -> None:
    # per layer: q, o 576x576; k, v 576x192; gate, up, down 576x1536
    assert linear_params(SMOLLM2_SHAPE) == 30 * (2 * 576 * 576 + 2 * 576 * 192 + 3 * 576 * 1536)
    one = sequence_flops(SMOLLM2_SHAPE, 1)
    assert one == pytest.approx(2 * linear_params(SMOLLM2_SHAPE) + 4 * 30 * 576 + 2 * 576)
    assert 0.21e9 < one < 0.22e9
    # attention grows with the length: token i attends to i + 1 tokens
    assert sequence_flops(SMOLLM2_SHAPE, 512) - 512 * 2 * linear_params(SMOLLM2_SHAPE) == pytest.approx(
        4 * 30 * 576 * 512 * 513 / 2 + 2 * 576
    )
    assert tokens_flops(SMOLLM2_SHAPE, [3, 5]) == sequence_flops(SMOLLM2_SHAPE, 3) + sequence_flops(SMOLLM2_SHAPE, 5)
