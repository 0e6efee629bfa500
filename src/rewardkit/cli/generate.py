"""`rewardkit bon generate`: the command line over rewardkit.client.generation (flags, messages, exit codes).

It knows no HTTP and no file format: those live in rewardkit.client.generation. Flag names follow vLLM's and
OpenAI's sampling parameters where they mean the same thing.
"""

from __future__ import annotations

from pathlib import Path

import typer

from rewardkit.errors import RewardKitError

__all__ = ["generate"]


def generate(
    input_path: Path = typer.Argument(
        ...,
        metavar="INPUT.jsonl",
        help="One prompt per line: {'messages': [{role, content}, ...]} or {'prompt': str} or {'instruction': str}. "
        "Other fields (id, dataset, ...) are kept in the output.",
    ),
    output: Path = typer.Option(
        ..., "-o", "--output", help="JSONL pool to write. If it exists, the prompts it already holds are skipped."
    ),
    base_url: str = typer.Option(
        "http://127.0.0.1:8000", help="OpenAI-compatible server (vLLM, SGLang, llama.cpp), with or without /v1."
    ),
    model: str | None = typer.Option(None, help="Model name to ask for. Default: the first of GET /v1/models."),
    n: int = typer.Option(4, "--n", help="Candidates per prompt (servers that cap n are asked again)."),
    temperature: float = typer.Option(1.0, help="Sampling temperature."),
    top_p: float = typer.Option(1.0, help="Nucleus sampling: keep the smallest token set of this mass."),
    max_tokens: int = typer.Option(512, help="Most tokens per candidate."),
    concurrency: int = typer.Option(8, help="Prompts in flight at once."),
    seed: int | None = typer.Option(None, help="Sampling seed sent to the server (top-up requests use seed+1, ...)."),
    openai_api_key: str | None = typer.Option(
        None, help="Sent to --base-url as 'Authorization: Bearer'. Default: $OPENAI_API_KEY."
    ),
    completions: bool = typer.Option(
        False, "--completions", help="Send raw 'prompt'/'instruction' strings to /v1/completions (no chat template)."
    ),
    timeout: float = typer.Option(120.0, help="Seconds to wait for one response."),
    max_retries: int = typer.Option(5, help="Retries of a request on 429, 5xx or a connection error."),
) -> None:
    """Sample N candidate responses per prompt from an OpenAI-compatible server into a Best-of-N pool.

    Each output row is the input row plus prompt_index, candidates (exactly N), finish_reasons and
    generator (the sampling settings), in input order. Rows are written as they finish: rerun the same
    command after an interruption and only the missing prompts are asked.
    """
    from rewardkit.client.generation import generate_pool

    try:
        count = generate_pool(
            input_path,
            output,
            base_url=base_url,
            model=model,
            n=n,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            concurrency=concurrency,
            seed=seed,
            api_key=openai_api_key,
            completions=completions,
            timeout=timeout,
            max_retries=max_retries,
        )
    except (RewardKitError, OSError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{count} prompts x {n} candidates -> {output}")
