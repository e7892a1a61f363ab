"""Run a long-lived service beside a small HTTP server for /healthz, /readyz and /metrics.

    await run_service(ServiceHttp(host, port, registry, ready), work)

`work(stop)` runs until it returns or `stop` is set (SIGINT/SIGTERM). If the work fails, the
HTTP server stops too and the exception propagates (non-zero exit, the supervisor restarts).

`guarded_httptools(head_timeout_s, max_head_bytes)` is uvicorn's httptools protocol with the two
limits it lacks: a request's head (request line and headers) must arrive within
`head_timeout_s` of the connection (or of the request's first byte) and be at most
`max_head_bytes` long. Without them a connection that never finishes its headers is held
forever, and one URL of 100 MB is buffered whole (+95 MB RSS measured). Pass it as
`uvicorn.run(..., http=guarded_httptools(...))`.
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
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hookstream.runtime.errors import HookstreamError
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

    asked_to_stop = asyncio.Event()

    def request_stop() -> None:
        asked_to_stop.set()
        stop.set()
        server.should_exit = True

    _on_signals(request_stop)
    work_task = asyncio.create_task(work(stop), name="service-work")
    server_task = asyncio.create_task(_serve(server, http), name="service-http")
    first: set[asyncio.Task[None]] = set()
    try:
        first, _ = await asyncio.wait({work_task, server_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.set()
        server.should_exit = True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(server_task), 5)
        if not work_task.done():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(work_task), 10)
            work_task.cancel()
    _raise_unasked_end(
        http, work_task, server_task in first and work_task not in first, asked_to_stop.is_set()
    )


async def _serve(server: uvicorn.Server, http: ServiceHttp) -> None:
    try:
        await server.serve()
    except SystemExit:  # uvicorn's answer to a port it cannot bind
        raise HookstreamError(
            f"cannot listen on {http.host}:{http.port} (is the port taken?)"
        ) from None


def _raise_unasked_end(
    http: ServiceHttp, work_task: asyncio.Task[None], server_ended_first: bool, asked: bool
) -> None:
    """A service ends cleanly only when asked to. Its work failing, its work cancelled from
    within (aiokafka can replace a start-up error by a cancellation), or its HTTP server
    ending on its own (a port taken) is a failure: non-zero exit, the supervisor restarts."""
    failure = work_task.exception() if work_task.done() and not work_task.cancelled() else None
    if failure is not None:
        raise failure
    if asked:
        return
    if server_ended_first:
        raise HookstreamError(
            f"the HTTP server on {http.host}:{http.port} stopped on its own (is the port taken?)"
        )
    if work_task.done() and work_task.cancelled():
        raise HookstreamError("the service's work was cancelled before it was asked to stop")


class _Heads:
    """Connections whose request head is still arriving, and when it must be complete; one
    sweeper task per event loop closes those past their deadline (no timer per request)."""

    def __init__(self, tick_s: float = 0.5) -> None:
        self.tick_s = tick_s
        self.deadlines: dict[_GuardedHttpTools, float] = {}
        self.now = 0.0
        self._sweepers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}

    def begin(self, protocol: _GuardedHttpTools) -> None:
        loop = protocol.loop
        if loop not in self._sweepers:
            self.now = loop.time()
            self._sweepers[loop] = loop.create_task(self._sweep(loop), name="http-head-guard")
        self.deadlines[protocol] = self.now + protocol.head_timeout_s

    async def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while True:
                await asyncio.sleep(self.tick_s)
                self.now = now = loop.time()
                late = [p for p, deadline in self.deadlines.items() if deadline <= now]
                for protocol in late:
                    self.deadlines.pop(protocol, None)
                    protocol.refuse_head(408, b"request head not complete in time")
        finally:
            self._sweepers.pop(loop, None)


_HEADS = _Heads()


class _GuardedHttpTools(HttpToolsProtocol):
    head_timeout_s = 10.0
    max_head_bytes = 64 * 1024
    _head_bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._head_bytes = 0
        _HEADS.begin(self)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        _HEADS.begin(self)

    def on_headers_complete(self) -> None:
        _HEADS.deadlines.pop(self, None)
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self in _HEADS.deadlines:  # still in a head after this data
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                _HEADS.deadlines.pop(self, None)
                self.refuse_head(431, b"request head too large")

    def connection_lost(self, exc: Exception | None) -> None:
        _HEADS.deadlines.pop(self, None)
        super().connection_lost(exc)

    def refuse_head(self, status: int, reason: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        phrase = b"Request Timeout" if status == 408 else b"Request Header Fields Too Large"
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, phrase, len(reason), reason)
        )
        self.transport.close()


def guarded_httptools(
    head_timeout_s: float = 10.0, max_head_bytes: int = 64 * 1024
) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with a head timeout and a head size limit (module doc)."""
    return type(
        "GuardedHttpTools",
        (_GuardedHttpTools,),
        {"head_timeout_s": head_timeout_s, "max_head_bytes": max_head_bytes},
    )
