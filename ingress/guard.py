"""Slow and greedy clients: a body-read timeout, a cap on body bytes held across connections and
on requests in progress, so that a few hundred clients that send part of a body (or hold big
ones) cannot hold the ingress's memory or its connections, and normal webhooks still pass.

    guard = BodyGuard(timeout_s=5, max_inflight_bytes=16 MiB, small_body_bytes=64 KiB, ...)
    read = guard.begin(send)          # None: too many requests in progress (answer 503)
    ...  message = await receive(); read.took(len(message["body"]))   # per chunk
    read.body_done()                  # stop the clock; the bytes stay counted
    guard.end(read)                   # request answered: its bytes are released

Costs on the hot path are a dict insert and delete and a few integer operations per request: no
timer per request. One sweeper task wakes every `tick_s` and answers every read past its deadline
with `408 body_timeout` and `connection: close` through the request's own `send`; uvicorn then
completes the response, wakes the blocked `receive()` with `http.disconnect` and closes the
connection. The reader sees `read.expired` and does not answer again.

Bytes are counted as they arrive. Every request may hold `small_body_bytes` without asking (so a
normal webhook is never refused because others hold big bodies); bytes beyond that draw from the
shared `max_inflight_bytes`, and a request that would exceed it is answered `503 server_busy`
with `Retry-After` (memory pressure passes; Meta retries). Memory held by bodies is thus at most
`max_inflight_bytes + max_requests * small_body_bytes`.

`BodyGuardMiddleware` puts the same guard in front of the Starlette routes (verification,
/api/messages, metrics); the webhook POST path uses the guard inline (ingress.webhook).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from hookstream.runtime.logging import event, get_logger
from ingress.errors import BodyTimeout, IngressError, ServerBusy

log = get_logger("ingress.guard")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

CLOSE = (b"connection", b"close")


def error_body(exc: IngressError) -> bytes:
    return orjson.dumps({"error": exc.reason, "detail": str(exc)})


async def respond(
    send: Send, status: int, body: bytes, extra_headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra_headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyRead:
    """One request's body as it arrives: bytes held, bytes charged to the shared budget."""

    __slots__ = ("charged", "deadline", "expired", "guard", "held", "send")

    def __init__(self, guard: BodyGuard, send: Send, deadline: float) -> None:
        self.guard, self.send, self.deadline = guard, send, deadline
        self.held = self.charged = 0
        self.expired = False

    def took(self, size: int) -> None:
        """Count `size` more bytes of body; ServerBusy if the shared budget cannot hold them,
        BodyTimeout if the read already expired (it has been answered)."""
        if self.expired:
            raise BodyTimeout("the body did not arrive within the body-read timeout")
        self.held += size
        guard = self.guard
        over = self.held - guard.small_body_bytes
        if over > self.charged:
            if guard.inflight_bytes + over - self.charged > guard.max_inflight_bytes:
                raise ServerBusy(
                    "too many body bytes in flight across connections; retry shortly",
                    retry_after=guard.retry_after_s,
                )
            guard.inflight_bytes += over - self.charged
            self.charged = over

    def body_done(self) -> None:
        """The body is complete: the clock stops (the bytes stay counted until `end`)."""
        self.guard.reading.pop(self, None)

    def last(self, size: int) -> None:
        """`took(size)` and `body_done()` in one call: the common body, one chunk."""
        if self.expired:
            raise BodyTimeout("the body did not arrive within the body-read timeout")
        if self.held + size > self.guard.small_body_bytes:
            self.took(size)
        else:
            self.held += size
        self.guard.reading.pop(self, None)


class BodyGuard:
    def __init__(
        self,
        timeout_s: float = 5.0,
        max_inflight_bytes: int = 16 * 1024 * 1024,
        small_body_bytes: int = 64 * 1024,
        max_requests: int = 1024,
        retry_after_s: int = 5,
        tick_s: float = 0.25,
        on_timeout: Callable[[], None] = lambda: None,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_inflight_bytes = max_inflight_bytes
        self.small_body_bytes = small_body_bytes
        self.max_requests = max_requests
        self.retry_after_s = retry_after_s
        self.tick_s = tick_s
        self.on_timeout = on_timeout
        self.inflight_bytes = 0  # charged beyond the small allowance, across requests
        self.requests = 0  # in progress (begun, not ended)
        self.reading: dict[BodyRead, float] = {}  # bodies not complete yet -> deadline
        self.timeouts = 0
        self._now = 0.0  # the sweeper's clock: a deadline is good to within one tick
        self._sweeper: asyncio.Task[None] | None = None
        self._expiring: set[asyncio.Task[None]] = set()

    def begin(self, send: Send) -> BodyRead | None:
        """Start a request's body; None when `max_requests` are already in progress."""
        if self.requests >= self.max_requests:
            return None
        if self._sweeper is None:
            self._start()
        self.requests += 1
        read = BodyRead(self, send, self._now + self.timeout_s)
        self.reading[read] = read.deadline
        return read

    def end(self, read: BodyRead) -> None:
        self.reading.pop(read, None)
        self.inflight_bytes -= read.charged
        read.charged = 0
        self.requests -= 1

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        self._now = loop.time()
        self._sweeper = loop.create_task(self._sweep(), name="ingress-body-guard")

    async def stop(self) -> None:
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.tick_s)
            self._now = now = loop.time()
            if not self.reading:
                continue
            expired = [read for read, deadline in self.reading.items() if deadline <= now]
            for read in expired:
                self._expire(read)

    def _expire(self, read: BodyRead) -> None:
        del self.reading[read]
        read.expired = True
        self.timeouts += 1
        self.on_timeout()
        task = asyncio.get_running_loop().create_task(self._answer_timeout(read))
        self._expiring.add(task)
        task.add_done_callback(self._expiring.discard)

    async def _answer_timeout(self, read: BodyRead) -> None:
        exc = BodyTimeout(f"the body did not arrive within {self.timeout_s:g}s")
        event(log, "body_timeout", logging.WARNING, status=408, received_bytes=read.held)
        with contextlib.suppress(Exception):  # the client may be gone already
            await respond(read.send, exc.status_code, error_body(exc), [CLOSE])


class BodyGuardMiddleware:
    """The guard in front of an ASGI app: every HTTP request's body is read under the timeout
    and counted; after the guard answered (408, 503), whatever the app still sends or raises
    is dropped, and the app sees `http.disconnect`."""

    def __init__(self, app: App, guard: BodyGuard) -> None:
        self.app, self.guard = app, guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        guard = self.guard
        read = guard.begin(send)
        if read is None:
            return await respond(send, 503, error_body(busy(guard)), busy_headers(guard))
        answered = False
        body_done = not has_body(scope)
        if body_done:
            read.body_done()

        async def guarded_receive() -> Message:
            nonlocal answered, body_done
            if answered or body_done:
                return await receive() if not answered else {"type": "http.disconnect"}
            message = await receive()
            if read.expired:
                answered = True
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                try:
                    read.took(len(message.get("body", b"")))
                except ServerBusy as exc:
                    answered = True
                    await respond(send, 503, error_body(exc), busy_headers(guard))
                    return {"type": "http.disconnect"}
                if not message.get("more_body", False):
                    body_done = True
                    read.body_done()
            else:
                read.body_done()
            return message

        async def guarded_send(message: Message) -> None:
            if not answered and not read.expired:
                read.body_done()  # the app answers: no 408 from here on
                await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            if not (answered or read.expired):
                raise
        finally:
            guard.end(read)


def has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if (name == b"content-length" and value.strip() not in (b"", b"0")) or (
            name == b"transfer-encoding"
        ):
            return True
    return False


def busy(guard: BodyGuard) -> ServerBusy:
    return ServerBusy(
        f"more than {guard.max_requests} requests in progress; retry shortly",
        retry_after=guard.retry_after_s,
    )


def busy_headers(guard: BodyGuard) -> list[tuple[bytes, bytes]]:
    return [(b"retry-after", str(guard.retry_after_s).encode()), CLOSE]
