"""The request-head limits uvicorn's httptools protocol lacks (hookstream.runtime.service's
guarded_httptools): a head that does not complete in time is answered 408 and closed, one
larger than the limit 431 and closed; a normal request is served as before."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

from hookstream.embedded.processes import free_port
from hookstream.runtime.service import guarded_httptools


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]}
    )
    await send({"type": "http.response.body", "body": b"hello"})


@contextlib.asynccontextmanager
async def server(head_timeout_s: float, max_head_bytes: int) -> AsyncIterator[int]:
    port = free_port()
    config = uvicorn.Config(
        hello,
        host="127.0.0.1",
        port=port,
        log_level="error",
        lifespan="off",
        http=guarded_httptools(head_timeout_s, max_head_bytes),
    )
    instance = uvicorn.Server(config)
    instance.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(instance.serve())
    while not instance.started:
        await asyncio.sleep(0.02)
    try:
        yield port
    finally:
        instance.should_exit = True
        await task


async def exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=60)  # until the server closes
    except ConnectionResetError:
        return b"reset"
    finally:
        writer.close()


async def test_a_head_that_never_completes_is_answered_408_and_closed() -> None:
    async with server(head_timeout_s=0.3, max_head_bytes=64 * 1024) as port:
        answer = await exchange(port, b"POST /webhook HTTP/1.1\r\nhost: x\r\ncontent-")
        silent = await exchange(port, b"")  # connected, never sends a byte
    assert answer.startswith(b"HTTP/1.1 408 ") and b"connection: close" in answer
    assert silent.startswith(b"HTTP/1.1 408 ")


async def test_a_head_larger_than_the_limit_is_refused() -> None:
    async with server(head_timeout_s=60, max_head_bytes=16 * 1024) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /" + b"a" * 1_000_000)  # a URL that never ends
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        try:
            answer = await asyncio.wait_for(reader.read(), timeout=60)
        except ConnectionResetError:
            answer = b"reset"  # closed with unread bytes: the kernel may reset instead
        writer.close()
        normal = await exchange(port, b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431 ") or answer in (b"reset", b"")
    assert normal.startswith(b"HTTP/1.1 200 ") and normal.endswith(b"hello")


async def test_keep_alive_requests_are_served_and_the_next_head_is_timed_again() -> None:
    async with server(head_timeout_s=0.3, max_head_bytes=64 * 1024) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(3):
            writer.write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 ")
            assert await reader.readexactly(5) == b"hello"
        writer.write(b"GET / HTTP/1.1\r\nho")  # a fourth request that stalls in its head
        rest = await asyncio.wait_for(reader.read(), timeout=60)
        writer.close()
    assert rest.startswith(b"HTTP/1.1 408 ")
