"""What every loaded reward model looks like to the rest of rewardkit.

A LoadedModel maps right-padded token ids to raw rewards, one row per sequence, read at the right
token. It knows nothing about batching policy, normalization flags, HTTP or text.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["LoadedModel", "ModelInfo", "StepRewards"]


@dataclass
class ModelInfo:
    """What /info and `rewardkit info` report; plain data."""

    path: str
    format: str
    architecture: str
    head: str
    pooling: str
    num_labels: int
    dtype: str
    device: str
    max_length: int
    pad_token: str | None
    eos_token: str | None
    bos_token: str | None
    pad_token_added: bool
    template: str = ""
    normalization: dict[str, float] | None = None
    normalize_by_default: bool = False
    normalized: bool = False
    outputs: list[str] = field(default_factory=list)
    objective: str | None = None
    detected_by: str = ""
    steps: dict[str, Any] | None = None
    pairwise: dict[str, Any] | None = None
    packing: str = "off: the format's own padded forward"
    """'on: ...' when batches run padding-free (models/packing.py), else 'off: why'."""
    prefix_cache: str = "off: the model is not packed"
    """'on: ...' when keys and values of earlier batches are reused by prefix (models/prefix_cache.py),
    else 'off: why'."""
    compiled: str = "off"
    """'on: ...' when the packed forward is compiled (--compile, models/compiling.py)."""
    batch_invariant: bool = False
    # held-out figures `rewardkit train` wrote into config.json (rewardkit_evaluation), if any
    evaluation: dict[str, Any] | None = None
    recipe: str | None = None
    """The model family whose card's reading rule is followed (models/recipes/), if any."""
    reading_rule: str | None = None
    """That rule in words: what text the model reads and where, and what the reward is."""
    card: str | None = None
    """Where the rule comes from: the model card or code it follows."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StepRewards:
    """What a process reward model returns: a value per sequence (at its last token) and the
    scores at each step separator, per sequence, in order, with the separators' token positions
    (the runner drops separators that fall inside the prompt)."""

    values: Any
    steps: list[list[float]]
    positions: list[list[int]]


class LoadedModel(ABC):
    """A reward model on a device. Subclasses implement ``forward``."""

    def __init__(self, *, module: Any, tokenizer: Any, pad_id: int, info: ModelInfo, head: Any = None) -> None:
        from rewardkit.models.float32_head import in_float32

        self.module = module
        self.head = in_float32(head)  # a half-precision head runs as a float32 copy (models/float32_head.py)
        self.tokenizer = tokenizer
        self.pad_id = pad_id
        self.info = info

    @property
    def device(self) -> Any:
        released = self.__dict__.get("_released_on")
        return released if released is not None else next(self.module.parameters()).device

    def release_weights(self) -> None:
        """Free this process's copy of the weights, for a server whose forward runs in a process of
        its own (scoring/forward_process.py): every module moves to the meta device and the fused
        forward's prepacked copies go (models/packing.py); ``device`` still says where the model ran.
        A forward in this process fails from then on."""
        import torch

        device = self.device
        for value in list(vars(self).values()):
            if isinstance(value, torch.nn.Module):
                value.to("meta")
        self._released_on = device
        _return_freed_memory()

    packed = False
    """Whether ``forward_packed`` is in use: batches run as one padding-free row."""
    rendering: Any = None
    """How inputs become token ids when the model's family says so (a templating.Rendering, set by
    a recipe); None: the chat template as served."""

    def enable_packing(self, fuse: bool = True, prefix_cache_bytes: int = 0) -> None:
        """Switch to padding-free batches when this format and architecture allow it (else the
        padded path stays, and ``info.packing`` says why); ``fuse`` allows a fused forward where the
        architecture has one, ``prefix_cache_bytes`` a prefix cache of that size beside it. Formats
        that can pack override this."""
        return None

    @property
    def cached_tokens(self) -> int:
        """Tokens whose keys and values came from the prefix cache instead of a forward, since load."""
        return 0

    def forward_packed(self, sequences: Any) -> Any:
        """Raw rewards, [n, outputs], for token id sequences run packed into one row."""
        raise NotImplementedError(f"{type(self).__name__} has no packed forward")

    @abstractmethod
    def forward(self, input_ids: Any, attention_mask: Any) -> Any:
        """Raw rewards for right-padded inputs: a float32 tensor [batch, outputs], named by
        ``info.outputs`` when there are several, or a StepRewards for process reward models."""


def _return_freed_memory() -> None:
    """Hand freed heap back to the system now (glibc keeps it otherwise, and RSS would not show the
    release); nothing where the C library has no malloc_trim."""
    import ctypes

    with contextlib.suppress(AttributeError, OSError):
        ctypes.CDLL(None).malloc_trim(0)
