"""Recipes: published reward models whose reading rule lives only on their model card (the logit of
one vocabulary id, P("+") at a step tag, a token the card appends, steps as chat turns).

Served as a generic format such a model loads and returns wrong numbers, so each family's rule is
written once, in a module of its own in this package that exposes ``RECIPE`` (a Recipe: reading
rule, detection, token checks, and a docstring citing the card). Modules are found by listing the
package, so a new family is one module (and its test); names starting with "_" are shared code.

A recipe is chosen by ``--recipe NAME``, or detected from what is on disk when exactly one fits:
from config.json before the generic formats (an InternLM2 reward model would otherwise pass for a
DeepSpeed-Chat v-head); from the folder's name only after them (a plain causal LM says nothing
else about itself). Knows checkpoints and tokenizers; nothing about batching or HTTP.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import Any

from rewardkit.errors import ModelLoadError
from rewardkit.models.checkpoint import Checkpoint
from rewardkit.models.recipes._recipe import Recipe

__all__ = ["Recipe", "check_options", "detect_recipe", "recipe_named", "recipes"]


@functools.cache
def _found() -> tuple[Recipe, ...]:
    found = []
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            recipe = getattr(importlib.import_module(f"{__name__}.{module.name}"), "RECIPE", None)
            if isinstance(recipe, Recipe):
                found.append(recipe)
    return tuple(sorted(found, key=lambda r: r.name))


def recipes() -> list[Recipe]:
    """Every recipe, by name."""
    return list(_found())


def recipe_named(name: str) -> Recipe:
    for recipe in _found():
        if recipe.name == name:
            return recipe
    known = ", ".join(r.name for r in _found())
    raise ModelLoadError(f"--recipe {name!r}: no such recipe; rewardkit knows {known} (`rewardkit recipes` lists them)")


def detect_recipe(ckpt: Checkpoint, *, by_name: bool = False) -> tuple[Recipe, str] | None:
    """The one recipe whose family the checkpoint is, and why, among those detected from the files'
    contents (or, ``by_name``, from names on disk); None when none fits; an error when several do."""
    fits = [(recipe, reason) for recipe in _found() if recipe.by_name == by_name and (reason := recipe.detect(ckpt))]
    if len(fits) > 1:
        found = "; ".join(f"{recipe.name} ({reason})" for recipe, reason in fits)
        raise ModelLoadError(f"{ckpt.path}: several recipes fit this checkpoint: {found}. Pick one with --recipe NAME")
    return fits[0] if fits else None


VERIFIER_OPTIONS = {"judge_template": None, "verifier_tokens": "Yes,No", "verifier_output": "probability"}


def check_options(config: Any, fmt: Any) -> None:
    """Refuse flags that belong to a recipe other than the one loading (they would be ignored)."""
    if getattr(fmt, "name", None) == "yes-no-verifier":
        return
    given = [name for name, default in VERIFIER_OPTIONS.items() if getattr(config, name) != default]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise ModelLoadError(f"{flags} apply to the yes-no-verifier recipe (--recipe yes-no-verifier), not {fmt.name}")
