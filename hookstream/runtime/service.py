"""Run a long-lived service beside a small HTTP server for /healthz, /readyz and /metrics.

    await run_service(ServiceHttp(host, port, registry, ready), work)

`work(stop)` runs until it returns or `stop` is set (SIGINT/SIGTERM). If the work fails, the
HTTP server stops too and the exception propagates (non-zero exit, the supervisor restarts).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from hookstream.runtime.metrics import metrics_endpoint

Work = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@dataclass
class ServiceHttp:
    host: str
    port: int
    registry: CollectorRegistry
    ready: Callable[[], bool] = lambda: True
    routes: Sequence[BaseRoute] = field(default_factory=tuple)
    # An ASGI app in front of the Starlette one (a hot path served as plain ASGI).
    front: Callable[[ASGIApp], ASGIApp] | None = None

    def app(self) -> Starlette:
        async def healthz(_: Request) -> Response:
            return PlainTextResponse("ok")

        async def readyz(_: Request) -> Response:
            ok = self.ready()
            return PlainTextResponse("ready" if ok else "not ready", 200 if ok else 503)

        routes = [
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint(self.registry)),
            *self.routes,
        ]
        return Starlette(routes=routes)

    def asgi(self) -> ASGIApp:
        return self.front(self.app()) if self.front else self.app()


def uvicorn_server(app: ASGIApp, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    # uvicorn would re-raise SIGTERM after serving, killing the work before it drains and
    # commits; run_service handles the signals itself.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    return server


def _on_signals(callback: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, callback)


async def run_service(http: ServiceHttp, work: Work) -> None:
    stop = asyncio.Event()
    server = uvicorn_server(http.asgi(), http.host, http.port)

    def request_stop() -> None:
        stop.set()
        server.should_exit = True

    _on_signals(request_stop)
    work_task = asyncio.create_task(work(stop), name="service-work")
    server_task = asyncio.create_task(server.serve(), name="service-http")
    try:
        await asyncio.wait({work_task, server_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.set()
        server.should_exit = True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(server_task), 5)
        if not work_task.done():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(work_task), 10)
            work_task.cancel()
    failure = work_task.exception() if work_task.done() and not work_task.cancelled() else None
    if failure is not None:
        raise failure
