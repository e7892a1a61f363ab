"""The body guard: bytes in flight, requests in progress, the body-read timeout (issue 11)."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ingress.errors import BodyTimeout, ServerBusy
from ingress.guard import BodyGuard, BodyGuardMiddleware

Message = MutableMapping[str, Any]


class Sent:
    """A fake ASGI send: what was sent, and an event once a response is complete."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.complete = asyncio.Event()

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            self.complete.set()

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.messages[0]["headers"])


async def test_small_bodies_never_touch_the_shared_budget() -> None:
    guard = BodyGuard(max_inflight_bytes=100, small_body_bytes=1000)
    reads = [guard.begin(Sent()) for _ in range(50)]
    for read in reads:
        assert read is not None
        read.took(1000)  # 50 KB held in all, the cap is 100 bytes: still fine
    assert guard.inflight_bytes == 0 and guard.requests == 50
    for read in reads:
        assert read is not None
        guard.end(read)
    assert guard.requests == 0
    await guard.stop()


async def test_bytes_beyond_the_allowance_are_capped_across_requests() -> None:
    guard = BodyGuard(max_inflight_bytes=1000, small_body_bytes=100, retry_after_s=7)
    first, second = guard.begin(Sent()), guard.begin(Sent())
    assert first is not None and second is not None
    first.took(600)  # 500 charged
    second.took(500)  # 400 charged
    assert guard.inflight_bytes == 900
    with pytest.raises(ServerBusy) as refused:
        second.took(200)  # would be 1,100
    assert refused.value.retry_after == 7 and refused.value.status_code == 503
    guard.end(first)
    assert guard.inflight_bytes == 400
    second.took(200)  # fits now
    guard.end(second)
    assert guard.inflight_bytes == 0
    await guard.stop()


async def test_requests_in_progress_are_capped() -> None:
    guard = BodyGuard(max_requests=2)
    held = [guard.begin(Sent()), guard.begin(Sent())]
    assert guard.begin(Sent()) is None
    assert held[0] is not None
    guard.end(held[0])
    assert guard.begin(Sent()) is not None
    await guard.stop()


async def test_a_body_past_its_deadline_is_answered_408_and_closed() -> None:
    timeouts: list[int] = []
    guard = BodyGuard(timeout_s=0.05, tick_s=0.01, on_timeout=lambda: timeouts.append(1))
    sent = Sent()
    read = guard.begin(sent)
    assert read is not None
    read.took(10)
    await asyncio.wait_for(sent.complete.wait(), timeout=30)
    assert sent.status == 408 and sent.headers[b"connection"] == b"close"
    assert b"body_timeout" in sent.messages[1]["body"]
    assert read.expired and timeouts == [1]
    with pytest.raises(BodyTimeout):
        read.took(1)  # the reader learns it was answered
    guard.end(read)
    await guard.stop()


async def test_a_complete_body_is_never_timed_out() -> None:
    guard = BodyGuard(timeout_s=0.05, tick_s=0.01)
    sent = Sent()
    read = guard.begin(sent)
    assert read is not None
    read.took(10)
    read.body_done()
    await asyncio.sleep(0.2)  # several deadlines' worth: nothing may be sent
    assert sent.messages == [] and not read.expired
    guard.end(read)
    await guard.stop()


def starlette_app() -> Starlette:
    async def echo(request: Request) -> Response:
        return PlainTextResponse(str(len(await request.body())))

    async def slow_get(_: Request) -> Response:
        await asyncio.sleep(0.2)
        return PlainTextResponse("late but fine")

    return Starlette(routes=[Route("/echo", echo, methods=["POST"]), Route("/slow", slow_get)])


def http_scope(method: str, path: str, length: int | None) -> dict[str, Any]:
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "scheme": "http",
        "server": ("test", 80),
        "root_path": "",
        "http_version": "1.1",
    }


async def test_the_middleware_counts_the_starlette_routes_bodies_and_answers_for_them() -> None:
    guard = BodyGuard(max_inflight_bytes=10, small_body_bytes=5, timeout_s=30)
    app = BodyGuardMiddleware(starlette_app(), guard)

    async def body(size: int) -> Message:
        return {"type": "http.request", "body": b"x" * size, "more_body": False}

    ok = Sent()
    await app(http_scope("POST", "/echo", 8), lambda: body(8), ok)
    assert ok.status == 200 and ok.messages[1]["body"] == b"8"
    busy = Sent()
    await app(http_scope("POST", "/echo", 100), lambda: body(100), busy)
    assert busy.status == 503 and busy.headers[b"retry-after"] == b"5"
    assert len(busy.messages) == 2  # Starlette's own answer to the disconnect was dropped
    assert guard.requests == 0 and guard.inflight_bytes == 0
    await guard.stop()


async def test_a_request_without_a_body_is_not_timed_out_while_its_route_works() -> None:
    guard = BodyGuard(timeout_s=0.05, tick_s=0.01)
    app = BodyGuardMiddleware(starlette_app(), guard)
    sent = Sent()

    async def never() -> Message:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    await app(http_scope("GET", "/slow", None), never, sent)
    assert sent.status == 200 and sent.messages[1]["body"] == b"late but fine"
    await guard.stop()
