"""``--compile``: torch.compile for the packed forward, compiled before the first request.

Each decoder layer is compiled on its own; the layers share one code object, so one graph serves
all of them (dynamo takes the weights as inputs). Attention inside a layer is the segment-attention
custom op, opaque to the compiler, so a new segment layout never recompiles. Row lengths are
dynamic and rounded up to a multiple of ``BUCKET`` with at least one filler token: a row then never
has the length 0 or 1 or a single segment, the sizes dynamo would specialise a graph on, and the
graphs compiled at warm-up are the only ones there will be. Embeddings, the final norm and the
head stay eager (a small share of the work).
"""

from __future__ import annotations

from typing import Any

__all__ = ["BUCKET", "bucket_length", "compile_packed", "compiled_graphs"]

BUCKET = 16
"""Row lengths are rounded up to a multiple of this, plus at least one filler token."""
WARM_UP = ((3, 40), (7, 90))
"""Warm-up rows: (sequences, tokens each), shaped unlike each other so that dynamo settles on
dynamic sizes while still warming up."""


def bucket_length(length: int) -> int:
    """The compiled row length for ``length`` real tokens: the next multiple of BUCKET above it."""
    return (length // BUCKET + 1) * BUCKET


def compiled_graphs() -> int:
    """Graphs dynamo has compiled in this process (to check none is compiled after warm-up)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def compile_packed(model: Any) -> str:
    """Compile ``model``'s packed backbone and warm it up; returns what /info reports. ``model`` is a
    packed LoadedModel (models/packing.py); anything else is refused with the reason."""
    from rewardkit.errors import ModelLoadError

    if not model.packed:
        raise ModelLoadError(
            f"--compile compiles the packed forward, and this model is not packed ({model.info.packing}); "
            "drop --compile, or drop --no-packing if it was given"
        )
    layers = getattr(model.packing_backbone(), "layers", None)
    if layers is None or not len(layers):
        raise ModelLoadError("--compile: the backbone has no decoder layers to compile")
    import torch

    for layer in layers:
        layer.compile(dynamic=True)
    model.bucket = bucket_length
    before = compiled_graphs()
    vocab = int(model.packing_backbone().config.vocab_size)
    with torch.inference_mode():
        for count, length in WARM_UP:
            sequences = [[(7 * i + j) % vocab for j in range(length + i)] for i in range(count)]
            model.forward_packed(sequences)
    return f"on: {len(layers)} decoder layers, {compiled_graphs() - before} graph(s) compiled at start-up"
