"""An app served in-process: real routes, real engine, httpx over ASGI (no socket)."""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx

from rewardkit.serving import build


@asynccontextmanager
async def serving_app(app):
    """Run ``app``'s lifespan and yield an httpx client talking to it; ``client.app`` is the app."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rk") as client:
            client.app = app
            yield client


@asynccontextmanager
async def serving(model, model_config=None, engine_config=None, server_config=None):
    async with serving_app(build(model, model_config, engine_config, server_config)) as client:
        yield client
