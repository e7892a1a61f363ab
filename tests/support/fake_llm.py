"""A local fake of an OpenAI-compatible chat-completions server (real HTTP, loopback)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hookstream.runtime.service import uvicorn_server


@dataclass
class FakeLlm:
    mode: str = "ok"  # ok | error | slow | garbage
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    async def completions(self, request: Request) -> Response:
        self.requests.append(await request.json())
        self.headers.append(dict(request.headers))
        if self.mode == "error":
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        if self.mode == "slow":
            await asyncio.sleep(1.5)
        if self.mode == "garbage":
            return JSONResponse({"choices": []})
        last = self.requests[-1]["messages"][-1]["content"]
        return JSONResponse(
            {"choices": [{"message": {"role": "assistant", "content": f"echo: {last}"}}]}
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serve_fake_llm() -> AsyncIterator[tuple[FakeLlm, str]]:
    fake = FakeLlm()
    app = Starlette(routes=[Route("/v1/chat/completions", fake.completions, methods=["POST"])])
    port = free_port()
    server = uvicorn_server(app, "127.0.0.1", port)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield fake, f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        await task
