"""`rewardkit recipes`: the model families rewardkit reads as their model cards do, one line each
with the card they follow; with a NAME, that recipe's reading rule in full."""

from __future__ import annotations

import json

import typer

from rewardkit.cli.common import fail
from rewardkit.errors import RewardKitError

__all__ = ["recipes"]


def recipes(
    name: str | None = typer.Argument(None, help="A recipe to describe in full (its reading rule and card)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the recipes: published reward models whose reading rule lives only on their model card.
    Load one with --recipe NAME (serve, info, score, eval); those recognisable from the files on disk
    are chosen without it (`rewardkit info` says which and why)."""
    from rewardkit.models.recipes import recipe_named
    from rewardkit.models.recipes import recipes as all_recipes

    try:
        chosen = [recipe_named(name)] if name else all_recipes()
    except RewardKitError as exc:
        fail(exc)
    facts = [
        {
            "name": r.name,
            "summary": r.description,
            "family": r.family,
            "card": r.card,
            "reading_rule": r.rule,
            "needs_trust_remote_code": r.runs_custom_code,
        }
        for r in chosen
    ]
    if name == "yes-no-verifier":
        from rewardkit.models.recipes.yes_no_verifier import DEFAULT_JUDGE_TEMPLATE

        facts[0]["default_judge_template"] = DEFAULT_JUDGE_TEMPLATE
    if as_json:
        typer.echo(json.dumps(facts if name is None else facts[0], indent=2, ensure_ascii=False))
        return
    if name is None:
        width = max(len(f["name"]) for f in facts)
        for f in facts:
            typer.echo(f"{f['name']:<{width}}  {f['summary']}  [card: {f['card']}]")
        return
    for key, value in facts[0].items():
        typer.echo(f"{key}: {value}")
