"""`rewardkit` command line: serve | score | info | recipes | builtin | bon | eval | train.

One module per command or command group; this one only assembles them into ``app``. Flags that are
settings come from the config dataclasses through ``options.config_options``."""

from __future__ import annotations

import logging

import typer

from rewardkit.cli import info, recipes, score, serve, train
from rewardkit.cli.bon import bon_app
from rewardkit.cli.eval import eval_app

__all__ = ["app", "main"]

app = typer.Typer(
    help="Serve, run and evaluate reward models. MODEL is a checkpoint folder, or 'builtin'.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.add_typer(bon_app, name="bon")
app.add_typer(eval_app, name="eval")
app.command("train")(train.train)
app.command("serve")(serve.serve)
app.command("score")(score.score)
app.command("info")(info.info)
app.command("recipes")(recipes.recipes)
app.command("builtin")(info.builtin)


MODEL_STACK = {"torch", "transformers", "tokenizers", "safetensors", "numpy", "jinja2", "fastapi", "starlette"}
MODEL_STACK |= {"uvicorn", "matplotlib", "prometheus_client", "gguf", "accelerate", "math_verify"}
"""What `pip install 'rewardkit[serve]'` adds to the base (client-only) install."""


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    try:
        app()
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in MODEL_STACK:
            raise
        typer.secho(
            f"error: this command needs the model stack, and {exc.name} is not installed: "
            "pip install 'rewardkit[serve]' (the base install is the HTTP client and the trainer adapters)",
            fg=typer.colors.RED,
            err=True,
        )
        raise SystemExit(2) from None
