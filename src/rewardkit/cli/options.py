"""Typer options generated from the config dataclasses, so each flag's help lives in one place.

A field becomes ``--field-name``; its metadata gives the help text and, where a command needs them,
``short`` (e.g. "-o"), ``switch`` (a bool flag with no --no- form), ``min``/``max`` bounds and ``panel``
(the help panel, when not its class's: the Ray flags of ServerConfig). A field
with no default is a required option; one whose default is None shows no default (the command
chooses it)."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import MISSING, Field, fields
from typing import Any, TypeVar

import typer

__all__ = ["build_config", "config_options"]

F = TypeVar("F", bound=Callable[..., Any])

PANELS = {"RewardsConfig": "Rules"}
"""Help panels named otherwise than their class (ModelConfig -> "Model", ...)."""


def panel_name(cls: type, f: Field) -> str:
    """The --help panel a field's flag is listed in."""
    return f.metadata.get("panel") or PANELS.get(cls.__name__) or cls.__name__.removesuffix("Config")


def _option(cls: type, f: Field, annotation: Any, *, panel: bool) -> inspect.Parameter:
    meta = dict(f.metadata)
    if f.default is not MISSING:
        default = f.default
    elif f.default_factory is not MISSING:
        default = f.default_factory()
    else:
        default = ...  # required
    flag = "--" + f.name.replace("_", "-")
    origin_args = typing.get_args(annotation)
    kwargs: dict[str, Any] = {"help": meta.get("help", ""), "show_default": default is not None}
    if panel:
        kwargs["rich_help_panel"] = panel_name(cls, f)
    kwargs.update({bound: meta[bound] for bound in ("min", "max") if bound in meta})
    is_bool = annotation is bool or (bool in origin_args and type(None) in origin_args)
    flags = [f"{flag}/--no-{flag[2:]}" if is_bool and not meta.get("switch") else flag]
    if "short" in meta:
        flags.insert(0, meta["short"])
    return inspect.Parameter(
        f.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=typer.Option(default, *flags, **kwargs),
        annotation=annotation,
    )


def config_options(*config_classes: type, panels: bool = True) -> Callable[[F], F]:
    """Add every field of ``config_classes`` as a --flag to a typer command taking ``**options``.
    With ``panels`` each class's flags get their own help panel ("Model", "Engine", ...); without,
    they join the command's own options."""

    def decorate(func: F) -> F:
        own = [p for p in inspect.signature(func).parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD]
        hints = typing.get_type_hints(func)
        extra = []
        for cls in config_classes:
            cls_hints = typing.get_type_hints(cls)
            extra.extend(_option(cls, f, cls_hints[f.name], panel=panels) for f in fields(cls))

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

        params = own + extra
        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {
            **{p.name: hints.get(p.name, p.annotation) for p in own},
            **{p.name: p.annotation for p in extra},
        }
        return wrapper  # type: ignore[return-value]

    return decorate


def build_config(cls: type, options: dict[str, Any]) -> Any:
    """The dataclass ``cls`` from the subset of ``options`` that are its fields."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in options.items() if k in names})
