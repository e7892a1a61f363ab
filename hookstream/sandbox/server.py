"""Serve a Sandbox in the current event loop (tests, benchmark): `async with serving(sb) as url`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.types import ASGIApp

from hookstream.runtime.ports import free_port
from hookstream.runtime.service import uvicorn_server
from hookstream.sandbox.app import Sandbox
from hookstream.sandbox.front import SendFront
from hookstream.sandbox.graph import GraphFront


def sandbox_front(sandbox: Sandbox, app: ASGIApp) -> ASGIApp:
    """The sandbox's ASGI stack around its Starlette app: "Require App Secret" on every Graph
    call, then the Send API's fast path, then the app."""
    return GraphFront(sandbox.graph, SendFront(sandbox, app))


@contextlib.asynccontextmanager
async def serving(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    port = port or free_port(host)
    server = uvicorn_server(
        sandbox_front(sandbox, Starlette(routes=list(sandbox.routes()))), host, port
    )
    server.config.lifespan = "off"
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve(), name="sandbox-http")
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the sandbox did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
