"""`rewardkit bon generate`: n sampled responses per prompt from an OpenAI-compatible server, as a JSONL pool.

Each input row holds ``messages`` (a list of {role, content}), ``prompt`` or ``instruction`` (AlpacaEval);
each output row is that row plus ``prompt_index``, ``candidates`` (exactly n), ``finish_reasons`` and
``generator`` (the sampling settings). Rows are appended as they finish, so a rerun resumes where a run
stopped; the file is rewritten in input order at the end.

This module knows the OpenAI wire format only (and how llama.cpp-like servers bend it: a capped ``n``).
It knows no reward model, scores nothing, and does not know which server brand it talks to.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import httpx

from rewardkit.client.http import AsyncClient
from rewardkit.client.retry import RetryPolicy
from rewardkit.data.files import write_jsonl
from rewardkit.errors import InvalidInputError, ServerResponseError
from rewardkit.templating import KNOWN_ROLES

__all__ = ["discover_model", "generate_pool", "generate_pool_async", "normalize_base_url", "read_prompts", "sample"]

PROMPT_KEYS = ("messages", "prompt", "instruction")


def normalize_base_url(url: str) -> str:
    """``http://h:8000``, ``http://h:8000/`` and ``http://h:8000/v1`` all name the same server."""
    url = url.strip().rstrip("/")
    return url.removesuffix("/v1")


def _check_messages(messages: Any) -> list[dict[str, str]]:
    if not isinstance(messages, list) or not messages:
        raise InvalidInputError("'messages' must be a non-empty list of {role, content} objects")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in KNOWN_ROLES or not isinstance(m.get("content"), str):
            raise InvalidInputError(
                f"messages[{i}] must be {{'role': one of {', '.join(KNOWN_ROLES)}, 'content': a string}}"
            )
    if messages[-1]["role"] == "assistant":
        raise InvalidInputError("the last message is the assistant's; drop it so that the model writes the reply")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def _request_field(row: dict[str, Any], completions: bool) -> dict[str, Any]:
    """The part of the request body that carries this row's prompt."""
    if "messages" in row:
        if completions:
            raise InvalidInputError("has 'messages', which --completions cannot send; drop --completions")
        return {"messages": _check_messages(row["messages"])}
    for key in ("prompt", "instruction"):
        if key in row:
            if not isinstance(row[key], str) or not row[key]:
                raise InvalidInputError(f"'{key}' must be a non-empty string")
            return {"prompt": row[key]} if completions else {"messages": [{"role": "user", "content": row[key]}]}
    raise InvalidInputError("needs 'messages' (a list of {role, content}), 'prompt' or 'instruction'")


def read_prompts(path: str | Path, *, completions: bool = False) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every row of ``path`` with its request field; the whole file is checked before anything is sent."""
    from rewardkit.data.files import read_rows

    prompts = []
    for row in read_rows(Path(path)):
        number = row.pop("__line__")
        try:
            prompts.append((row, _request_field(row, completions)))
        except InvalidInputError as exc:
            raise InvalidInputError(f"{path}:{number}: {exc}") from None
    return prompts


async def _request(client: AsyncClient, method: str, path: str, body: Any = None) -> Any:
    """One call under the client's retry policy; a server that cannot be reached at all is a ConnectionError."""
    try:
        return await client.request(method, path, body)
    except httpx.TransportError as exc:
        raise ConnectionError(
            f"{method} {exc.request.url}: {type(exc).__name__}: {exc} (after {client.policy.retries + 1} tries)"
        ) from exc


async def discover_model(client: AsyncClient) -> str:
    """The first model id of ``GET /v1/models``: what a single-model server (vLLM, llama.cpp) serves."""
    data = await _request(client, "GET", "/v1/models")
    models = data.get("data") if isinstance(data, dict) else None
    if not isinstance(models, list) or not models or not isinstance(models[0], dict) or not models[0].get("id"):
        raise InvalidInputError(f"{client.base_url}/v1/models lists no model; pass --model")
    return str(models[0]["id"])


def _choice_text(choice: Any, chat: bool) -> str:
    text = (choice.get("message") or {}).get("content") if chat else choice.get("text")
    if text is None and chat:  # e.g. only reasoning or tool calls came back
        return ""
    if not isinstance(text, str):
        raise ServerResponseError(f"a choice without {'message.content' if chat else 'text'}: {choice!r:.200}", 200)
    return text


async def sample(
    client: AsyncClient, field: dict[str, Any], settings: dict[str, Any]
) -> tuple[list[str], list[str | None]]:
    """Exactly ``settings["n"]`` candidates for one prompt, and their finish reasons.

    Servers that return fewer choices than asked (llama.cpp ignores ``n``) get further requests for the
    rest; each must bring at least one choice, so there are at most n requests. A top-up request with a
    ``seed`` uses seed + 1, seed + 2, ... so that it does not repeat the first sample.
    """
    chat = "messages" in field
    path = "/v1/chat/completions" if chat else "/v1/completions"
    n, seed = settings["n"], settings.get("seed")
    texts: list[str] = []
    reasons: list[str | None] = []
    requests = 0
    while len(texts) < n:
        body = {**settings, **field, "n": n - len(texts)}
        if seed is not None:
            body["seed"] = seed + requests
        requests += 1
        data = await _request(client, "POST", path, body)
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices or not all(isinstance(c, dict) for c in choices):
            raise ServerResponseError(
                f"POST {client.base_url}{path} answered without choices after {len(texts)} of {n}: {data!r:.200}",
                200,
            )
        for choice in sorted(choices, key=lambda c: c.get("index") or 0)[: n - len(texts)]:
            texts.append(_choice_text(choice, chat))
            reasons.append(choice.get("finish_reason"))
    return texts, reasons


def _check_settings(**settings: Any) -> None:
    rules = {
        "n": (lambda v: v >= 1, "at least 1"),
        "temperature": (lambda v: v >= 0, "0 or more"),
        "top_p": (lambda v: 0 < v <= 1, "in (0, 1]"),
        "max_tokens": (lambda v: v >= 1, "at least 1"),
        "concurrency": (lambda v: v >= 1, "at least 1"),
        "timeout": (lambda v: v > 0, "more than 0"),
        "max_retries": (lambda v: v >= 0, "0 or more"),
    }
    for name, (ok, rule) in rules.items():
        if not ok(settings[name]):
            raise InvalidInputError(f"{name} must be {rule}, got {settings[name]}")


def _read_done(
    output: Path, prompts: list[tuple[dict[str, Any], dict[str, Any]]], generator: dict[str, Any]
) -> dict[int, dict[str, Any]]:
    """Rows an earlier run already wrote, checked against this input and these settings."""
    done: dict[int, dict[str, Any]] = {}
    if not output.exists():
        return done
    with open(output, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a blank line, or the half-written last line of an interrupted run
            where = f"{output}:{number}"
            index = row.get("prompt_index") if isinstance(row, dict) else None
            if not isinstance(index, int) or not 0 <= index < len(prompts):
                raise InvalidInputError(
                    f"{where}: not a row of this pool (no prompt_index among the {len(prompts)} input prompts); "
                    "write to another --output"
                )
            if row.get("generator") != generator:
                raise InvalidInputError(
                    f"{where}: generated with {row.get('generator')}, not {generator}; "
                    "write to another --output or delete it"
                )
            if any(row.get(key) != prompts[index][0].get(key) for key in PROMPT_KEYS):
                raise InvalidInputError(
                    f"{where}: its prompt is not that of input prompt {index}; the input changed, "
                    "write to another --output"
                )
            done[index] = row
    return done


def _write_sorted(output: Path, rows: dict[int, dict[str, Any]]) -> None:
    write_jsonl(output, (rows[index] for index in sorted(rows)))


async def generate_pool_async(
    input_path: str | Path,
    output_path: str | Path,
    *,
    base_url: str,
    model: str | None = None,
    n: int = 4,
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_tokens: int = 512,
    concurrency: int = 8,
    seed: int | None = None,
    api_key: str | None = None,
    completions: bool = False,
    timeout: float = 120.0,
    max_retries: int = 5,
    progress: bool = True,
) -> int:
    """Write n candidates per prompt of ``input_path`` to ``output_path``; returns the rows it then holds.

    An ``output_path`` left by an earlier run with the same settings is resumed: its prompts are not asked
    again. ``model`` defaults to the server's first, ``api_key`` to $OPENAI_API_KEY. ``completions`` sends
    raw ``prompt`` strings to /v1/completions (no chat template) instead of messages to /v1/chat/completions.
    """
    from tqdm.auto import tqdm

    _check_settings(
        n=n,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        concurrency=concurrency,
        timeout=timeout,
        max_retries=max_retries,
    )
    prompts = read_prompts(input_path, completions=completions)
    output = Path(output_path)
    api_key = api_key or os.environ.get("OPENAI_API_KEY")
    async with AsyncClient(
        normalize_base_url(base_url),
        api_key=api_key,
        timeout=timeout,
        policy=RetryPolicy(retries=max_retries, any_5xx=True),
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
    ) as client:
        model = model or await discover_model(client)
        generator: dict[str, Any] = {
            "model": model,
            "temperature": temperature,
            "top_p": top_p,
            "max_tokens": max_tokens,
            "n": n,
        }
        if seed is not None:
            generator["seed"] = seed
        done = _read_done(output, prompts, generator)
        _write_sorted(output, done)  # drops an interrupted run's half-written line before appending
        semaphore = asyncio.Semaphore(concurrency)
        with (
            open(output, "a", encoding="utf-8") as sink,
            tqdm(total=len(prompts), initial=len(done), disable=not progress, unit="prompt", desc="generate") as bar,
        ):

            async def one(index: int) -> None:
                row, field = prompts[index]
                async with semaphore:
                    texts, reasons = await sample(client, field, generator)
                row = {
                    **row,
                    "prompt_index": index,
                    "candidates": texts,
                    "finish_reasons": reasons,
                    "generator": generator,
                }
                sink.write(json.dumps(row, ensure_ascii=False) + "\n")
                sink.flush()
                done[index] = row
                bar.update()

            tasks = [asyncio.create_task(one(i)) for i in range(len(prompts)) if i not in done]
            try:
                await asyncio.gather(*tasks)
            finally:  # on the first failure, stop the rest; what was written stays for a resume
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    _write_sorted(output, done)
    return len(done)


def generate_pool(input_path: str | Path, output_path: str | Path, **options: Any) -> int:
    """Blocking form of :func:`generate_pool_async` (same keyword options), for scripts and the CLI."""
    return asyncio.run(generate_pool_async(input_path, output_path, **options))
