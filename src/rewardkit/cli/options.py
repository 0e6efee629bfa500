"""Typer options generated from the config dataclasses, so each flag's help lives in one place."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any, TypeVar

import typer

__all__ = ["build_config", "config_options"]

F = TypeVar("F", bound=Callable[..., Any])


def _option(cls: type, name: str, annotation: Any, default: Any, meta: dict) -> inspect.Parameter:
    flag = "--" + name.replace("_", "-")
    origin_args = typing.get_args(annotation)
    panel = cls.__name__.removesuffix("Config") + " options"
    kwargs: dict[str, Any] = {
        "help": meta.get("help", ""),
        "show_default": default is not None,
        "rich_help_panel": panel,
    }
    if annotation is bool or (bool in origin_args and type(None) in origin_args):
        flags = [f"{flag}/--no-{flag[2:]}"]
        return inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(default, *flags, **kwargs),
            annotation=annotation,
        )
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=typer.Option(default, flag, **kwargs),
        annotation=annotation,
    )


def config_options(*config_classes: type) -> Callable[[F], F]:
    """Add every field of ``config_classes`` as a --flag to a typer command taking ``**options``."""

    def decorate(func: F) -> F:
        own = [p for p in inspect.signature(func).parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD]
        hints = typing.get_type_hints(func)
        extra = []
        for cls in config_classes:
            cls_hints = typing.get_type_hints(cls)
            for f in fields(cls):
                default = f.default if f.default is not MISSING else None
                extra.append(_option(cls, f.name, cls_hints[f.name], default, dict(f.metadata)))

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
