"""The native CPU kernel for segment attention (models/native/segment_attention.c), built on first
use with the machine's C compiler and kept in rewardkit's cache, keyed by the source, the compiler
and the CPU, so each machine builds it once (about half a second).

One call per layer does every segment of a packed row, causal keys only, float32 arithmetic for
bf16 and float32 tensors alike; torch's CPU flash kernel, called once per segment, computes whole
blocks of masked keys on short segments and is what the kernel replaces. Where there is no compiler
(or with ``REWARDKIT_NATIVE_ATTENTION=0``; ``CC`` names another compiler) ``kernel()`` is None and
the SDPA loop runs instead.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["MAX_HEAD_DIM", "attend", "describe", "kernel", "unavailable_reason", "usable"]

SOURCE = Path(__file__).with_name("native") / "segment_attention.c"
FLAGS = ("-O3", "-march=native", "-fopenmp", "-shared", "-fPIC")
MAX_HEAD_DIM = 256
ENV = "REWARDKIT_NATIVE_ATTENTION"
_POINTER, _I64 = ctypes.c_void_p, ctypes.c_int64


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rewardkit" / "native"


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def _build() -> tuple[ctypes.CDLL | None, str]:
    """(the loaded kernel, "") or (None, why not), for the environment as it is now. Called on every
    attention layer: only environment lookups here, the rest is cached per environment."""
    environ = os.environ
    return _build_for(environ.get(ENV, "1"), environ.get("CC"), environ.get("XDG_CACHE_HOME"), environ.get("HOME"))


@functools.cache
def _build_for(switch: str, cc: str | None, cache_home: str | None, home: str | None) -> tuple[ctypes.CDLL | None, str]:
    """The build for one environment (the variables it depends on are the cache key)."""
    if switch.strip().lower() in ("0", "false", "no", "off"):
        return None, f"{ENV}=0"
    compiler = cc or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None, "no C compiler (cc) to build the native kernel"
    try:
        root = _cache_root()
    except RuntimeError as error:  # no home folder to find a cache in
        return None, f"no cache folder for the native kernel ({error})"
    try:
        return _compile_and_load(compiler, root)
    except (OSError, RuntimeError) as error:  # an unwritable cache, a library that does not load
        return None, f"the native kernel could not be built or loaded ({error})"


def _compile_and_load(compiler: str, root: Path) -> tuple[ctypes.CDLL | None, str]:
    source = SOURCE.read_bytes()
    try:
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as error:
        return None, f"the C compiler {compiler} does not run ({error})"
    key = hashlib.sha256(b"\0".join([source, " ".join(FLAGS).encode(), version.encode(), _cpu_flags().encode()]))
    target = root / f"segment_attention-{key.hexdigest()[:16]}.so"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as folder:
            built = Path(folder) / target.name
            done = subprocess.run(
                [compiler, *FLAGS, "-o", str(built), str(SOURCE)], capture_output=True, text=True, timeout=300
            )
            if done.returncode != 0:
                return None, f"the native kernel did not build: {done.stderr.strip()[-500:]}"
            os.replace(built, target)  # atomic: processes building side by side each keep a whole file
    import torch  # noqa: F401  (its OpenMP runtime is the one the kernel shares)

    library = ctypes.CDLL(str(target))
    function = library.rk_segment_attention
    function.restype = ctypes.c_int
    function.argtypes = (
        [ctypes.c_int] * 4
        + [ctypes.c_float, ctypes.c_int]
        + [_POINTER, _I64, _I64] * 6
        + [
            _POINTER,
            ctypes.c_int,
        ]
    )
    return library, ""


def kernel() -> ctypes.CDLL | None:
    """The loaded kernel, built on first use; None where it cannot be (see unavailable_reason)."""
    return _build()[0]


def unavailable_reason() -> str:
    """Why the kernel is not used ("" when it is)."""
    return _build()[1]


def usable(query: Any, key: Any) -> bool:
    """Whether these [heads, T, dim] tensors can take the native kernel: CPU, float32 or bfloat16,
    heads of at most 256, whole groups of query heads per key head."""
    import torch

    dim = query.shape[-1]
    return (
        query.device.type == "cpu"
        and query.dtype in (torch.float32, torch.bfloat16)
        and key.dtype == query.dtype
        and dim <= MAX_HEAD_DIM
        and query.shape[-3] % key.shape[-3] == 0
        and kernel() is not None
    )


def describe(backbone: Any) -> str:
    """What /info says of the attention a packed ``backbone`` runs."""
    import torch

    weight = next(backbone.parameters())
    if weight.device.type != "cpu":
        return "flash varlen or SDPA per segment"
    from rewardkit.models.backbone import head_dim

    if weight.dtype not in (torch.float32, torch.bfloat16) or head_dim(backbone.config) > MAX_HEAD_DIM:
        return f"SDPA per segment: the native kernel takes float32 or bfloat16 heads of at most {MAX_HEAD_DIM}"
    if kernel() is None:
        return f"SDPA per segment: {unavailable_reason()}"
    return "native kernel, one call per layer: causal keys only, float32 arithmetic"


def _strided(tensor: Any) -> tuple[Any, int, int]:
    """(pointer, head stride, token stride) of a [heads, T, dim] tensor whose last dim is dense."""
    return tensor.data_ptr(), tensor.stride(0), tensor.stride(1)


def attend(
    query: Any,
    key: Any,
    value: Any,
    segments: Sequence[Sequence[int]],
    scale: float,
    cached: tuple[Any, Any] | None = None,
    out: Any = None,
) -> Any:
    """[heads, T, dim] queries and [kv_heads, T, dim] keys and values -> [heads, T, dim] (``out``
    when given, any strides with a dense last dim): each segment (start, end, prefix start, prefix
    end[, cached start, cached end]) attends to its span of ``cached`` ([kv_heads, C, dim] keys and
    values), then its prefix, then itself causally."""
    import torch

    query, key, value = (t if t.stride(-1) == 1 else t.contiguous() for t in (query, key, value))
    if out is None:
        out = query.new_empty(query.shape)
    rows = [(*s, 0, 0) if len(s) == 4 else tuple(s) for s in segments]
    table = torch.tensor(rows, dtype=torch.int64).reshape(-1, 6)
    cached_key, cached_value = cached if cached is not None else (key, value)
    cached_key, cached_value = (t if t.stride(-1) == 1 else t.contiguous() for t in (cached_key, cached_value))
    heads, kv_heads, dim = query.shape[0], key.shape[0], query.shape[-1]
    status = kernel().rk_segment_attention(  # type: ignore[union-attr]
        int(query.dtype == torch.bfloat16),
        heads,
        kv_heads,
        dim,
        float(scale),
        torch.get_num_threads(),
        *_strided(query),
        *_strided(key),
        *_strided(value),
        *_strided(cached_key),
        *_strided(cached_value),
        *_strided(out),
        table.data_ptr(),
        len(rows),
    )
    if status != 0:
        raise MemoryError("the native attention kernel could not allocate its scratch")
    return out
