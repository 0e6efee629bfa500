"""A reward-function spec (``FILE.py:NAME``, a built-in name, ``ALIAS=SPEC``) -> a Rule that scores
Samples. Loaded the same way in the server (to fail at start-up, not at the first request) and in
every worker process.

A rule file is read once, by the server at start-up: its text is pinned (``Rule.source``, with its
sha256) and every worker, a replacement started hours later included, runs that text, never the
file as it is on disk by then. Modules the file imports are imported by each worker as usual."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.machinery
import importlib.util
import inspect
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardkit.config import RewardsConfig
from rewardkit.errors import InvalidInputError
from rewardkit.rules.builtin import BUILTIN
from rewardkit.rules.sample import Sample

__all__ = ["BATCH_PARAMETERS", "SAMPLE_PARAMETERS", "Rule", "RuleOutput", "load_rule", "pinned_sources", "rule_names"]

BATCH_PARAMETERS = ("queries", "prompts", "labels")
"""OpenRLHF's reward_func(queries, prompts, labels): called once per request."""
SAMPLE_PARAMETERS = ("query", "prompt", "label", "response")
"""A per-sample function names the parts it wants from these; called once per item."""


@dataclass(frozen=True)
class RuleOutput:
    """A rule's rewards for a request's items, and what it asked to log (one value per item each)."""

    rewards: list[float]
    extra_logs: dict[str, list[float]]


@dataclass(frozen=True)
class Rule:
    """A loaded reward function. ``batched``: OpenRLHF's form, one call per request; else one call
    per item with the parameters it names."""

    name: str
    spec: str
    function: Callable[..., Any]
    batched: bool
    wants: tuple[str, ...] = ()
    needs_label: bool = False  # the built-in 'math': a request without labels is refused up front (422)
    path: str | None = None  # the rule file, resolved (None for a built-in rule)
    source: str | None = None  # the file's text as read at start-up: what every worker runs

    @property
    def sha256(self) -> str | None:
        """The hash of the pinned file text (/info reports it: which code computed the rewards)."""
        return None if self.source is None else hashlib.sha256(self.source.encode("utf-8")).hexdigest()

    def describe(self) -> dict[str, Any]:
        form = "batch" if self.batched else "per-sample"
        return {"name": self.name, "spec": self.spec, "form": form, "path": self.path, "sha256": self.sha256}

    def score_one(self, sample: Sample) -> float:
        """The reward of one item (per-sample form); a non-number or non-finite result raises."""
        values = {"query": sample.query, "prompt": sample.prompt, "label": sample.label, "response": sample.response}
        return _finite(_call(self.function, **{k: values[k] for k in self.wants}), self.name)

    def score_batch(self, samples: Sequence[Sample]) -> RuleOutput:
        """The rewards of a request's items (batch form), checked for count and finiteness."""
        queries = [s.query for s in samples]
        prompts = [s.prompt for s in samples]
        labels = [s.label for s in samples]
        result = _call(self.function, queries, prompts, labels)
        extra: dict[str, list[float]] = {}
        if isinstance(result, dict):
            if "rewards" not in result:
                raise ValueError(f"reward function {self.name!r} returned a dict without 'rewards'")
            for key, value in (result.get("extra_logs") or {}).items():
                where = f"{self.name} extra_logs[{key!r}]"
                extra[f"{self.name}/{key}"] = _numbers(value, len(samples), where, finite=True)
            result = result["rewards"]
        return RuleOutput(_numbers(result, len(samples), self.name, finite=True), extra)


def _call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    result = function(*args, **kwargs)
    if inspect.isawaitable(result):
        result = asyncio.run(_awaited(result))
    return result


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _finite(value: Any, name: str) -> float:
    try:
        number = float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError):
        raise ValueError(f"reward function {name!r} returned {type(value).__name__}, not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"reward function {name!r} returned {number}; rewards must be finite numbers")
    return number


def _numbers(values: Any, n: int, name: str, *, finite: bool = False) -> list[float]:
    """A sequence, tensor or array of n numbers -> floats (tensors are read with .tolist())."""
    if hasattr(values, "tolist"):
        values = values.tolist()
    if isinstance(values, (int, float)) and n == 1:
        values = [values]
    if not isinstance(values, (list, tuple)) or len(values) != n:
        got = f"{len(values)} values" if isinstance(values, (list, tuple)) else type(values).__name__
        raise ValueError(f"reward function {name!r} returned {got} for {n} queries; return one number per query")
    if finite:
        return [_finite(v, name) for v in values]
    return [float(v) for v in values]


def _read_source(path: Path) -> str:
    try:
        return importlib.util.decode_source(path.read_bytes())
    except (OSError, UnicodeDecodeError, SyntaxError) as exc:
        raise InvalidInputError(f"--reward-fn: cannot read {path}: {exc}") from None


def _import_source(path: str, source: str) -> Any:
    """The module that ``source`` (the pinned text of ``path``) defines; one per path and text."""
    digest = hashlib.sha256(f"{path}\0{source}".encode()).hexdigest()[:24]
    module_name = f"rewardkit_rules_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    module = importlib.util.module_from_spec(importlib.machinery.ModuleSpec(module_name, None, origin=path))
    module.__file__ = path
    sys.modules[module_name] = module
    try:
        exec(compile(source, path, "exec"), module.__dict__)
    except Exception as exc:
        del sys.modules[module_name]
        raise InvalidInputError(f"--reward-fn: importing {path} raised {type(exc).__name__}: {exc}") from exc
    return module


def _function(
    spec: str, config: RewardsConfig, sources: Mapping[str, str]
) -> tuple[str, Callable[..., Any], str | None, str | None]:
    """(name, function, resolved path, pinned text): the text from ``sources`` when it holds the
    file, else read from disk now."""
    if spec in BUILTIN:
        return spec, BUILTIN[spec](config), None, None
    file, sep, attribute = spec.rpartition(":")
    if not sep or not file.endswith(".py") or not attribute:
        raise InvalidInputError(f"--reward-fn {spec!r}: give FILE.py:NAME, or a built-in rule ({', '.join(BUILTIN)})")
    path = Path(file).resolve()
    source = sources.get(str(path))
    if source is None:
        if not path.is_file():
            raise InvalidInputError(f"--reward-fn {spec!r}: no file {file}")
        source = _read_source(path)
    function = getattr(_import_source(str(path), source), attribute, None)
    if not callable(function):
        raise InvalidInputError(f"--reward-fn {spec!r}: {file} defines no function {attribute!r}")
    return attribute, function, str(path), source


def _form(spec: str, function: Callable[..., Any]) -> tuple[bool, tuple[str, ...]]:
    """(batched, the sample parts it takes). Parameters with defaults may be anything; those without
    must be OpenRLHF's (queries, prompts, labels) or named from SAMPLE_PARAMETERS."""
    parameters = list(inspect.signature(function).parameters.values())
    named = [p for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    if [p.name for p in named[:1]] == ["queries"]:
        return True, ()
    required = [p.name for p in named if p.default is p.empty]
    unknown = [n for n in required if n not in SAMPLE_PARAMETERS]
    takes_any = any(p.kind == p.VAR_KEYWORD for p in parameters)
    wants = SAMPLE_PARAMETERS if takes_any else tuple(p.name for p in named if p.name in SAMPLE_PARAMETERS)
    if unknown or not wants:
        raise InvalidInputError(
            f"--reward-fn {spec!r}: parameters {[p.name for p in named]} are neither OpenRLHF's (queries, prompts, "
            f"labels) nor named from {', '.join(SAMPLE_PARAMETERS)} (the per-sample form)"
        )
    return False, wants


def load_rule(spec: str, config: RewardsConfig | None = None, sources: Mapping[str, str] | None = None) -> Rule:
    """``spec`` -> a Rule; InvalidInputError says what is wrong with the spec or the file. ``sources``
    (resolved path -> text, from ``pinned_sources``) is the rule code to run instead of the file on disk."""
    config = config or RewardsConfig()
    alias, eq, target = spec.partition("=")
    if not eq:
        alias, target = "", spec
    target = target.strip()
    name, function, path, source = _function(target, config, sources or {})
    batched, wants = _form(spec, function)
    return Rule(
        alias.strip() or name, spec, function, batched, wants, needs_label=target == "math", path=path, source=source
    )


def pinned_sources(rules: Sequence[Rule]) -> dict[str, str]:
    """Resolved path -> text of every rule file, as loaded: what the workers are sent to run."""
    return {rule.path: rule.source for rule in rules if rule.path is not None and rule.source is not None}


RESERVED = ("model", "truncated", "num_tokens", "num_steps")
"""Names /get_reward's extra_logs already use for the model's own parts."""


def rule_names(rules: Sequence[Rule]) -> list[str]:
    """The rules' names, refusing duplicates and the names the model's logs use."""
    names = [r.name for r in rules]
    for name in names:
        if name in RESERVED or name.startswith("member/"):
            raise InvalidInputError(
                f"--reward-fn: {name!r} names a part of the model's own logs; rename the rule (ALIAS=SPEC)"
            )
        if names.count(name) > 1:
            raise InvalidInputError(f"--reward-fn: two rules are named {name!r}; rename one (ALIAS=SPEC)")
    return names
