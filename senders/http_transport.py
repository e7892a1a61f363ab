"""A lean HTTP/1.1 keep-alive transport under httpx.AsyncClient: asyncio protocols, httptools.

httpx's default transport (httpcore over anyio) took ~0.5 ms of CPU per Send API call here, more
than everything else the sender does for a command (py-spy at 1,000 calls/s: 54 % of the
sender's CPU in httpcore and anyio). The sender makes small requests to one origin, so this
transport does only that, cheaply: per origin at most `max_connections` keep-alive connections,
idle ones reused (last in, first out), dropped when the server closed them or after
`keepalive_expiry`; answers parsed by httptools (uvicorn's parser). httpx still does everything
above the transport (URL, headers, content decoding, timeouts configuration, errors).

Not supported (not needed by the sender): HEAD requests, upgrades, proxies, HTTP/2. Request
bodies are buffered; answers are read whole. A request on a connection that breaks is not
retried here (a POST may have reached the server): httpx raises, the caller decides.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field
from typing import cast

import httptools
import httpx

DEFAULT_PORTS = {b"http": 80, b"https": 443}


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    keep_alive: bool


class Connection(asyncio.Protocol):
    """One keep-alive connection: at most one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.waiter: asyncio.Future[Answer] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._status = 0  # set once an answer's headers are complete

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # nothing asked: an idle connection the server broke
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.fail(httpx.RemoteProtocolError(f"invalid HTTP answer: {exc}"))
            self.close()

    def eof_received(self) -> bool:
        self.closed = True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._status and not _delimited(self._headers):  # the body ends with the connection
            self._complete(Answer(self._status, self._headers, b"".join(self._body), False))
        self.fail(httpx.RemoteProtocolError("server disconnected without a complete answer"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:  # informational (103 Early Hints): the answer follows
            self._headers, self._body, self._status = [], [], 0
            return
        self._complete(
            Answer(
                self._status, self._headers, b"".join(self._body), self.parser.should_keep_alive()
            )
        )

    def _complete(self, answer: Answer) -> None:
        self._headers, self._body, self._status = [], [], 0
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(answer)

    def fail(self, error: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)

    def time_out(self) -> None:
        self.fail(httpx.ReadTimeout("no answer within the read timeout"))

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def exchange(self, payload: bytes, read_timeout: float | None) -> Answer:
        assert self.transport is not None  # noqa: S101 - connected
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        self.transport.write(payload)
        timer = loop.call_later(read_timeout, self.time_out) if read_timeout else None
        try:
            return await self.waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()


@dataclass
class Pool:
    """The connections to one origin, and the slots that bound them."""

    limit: int
    keepalive_expiry: float
    idle: list[Connection] = field(default_factory=list)
    slots: asyncio.Semaphore = field(init=False)
    closed: bool = False

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.limit)

    async def acquire(self, wait_s: float | None) -> None:
        if not self.slots.locked():
            await self.slots.acquire()
            return
        try:
            async with asyncio.timeout(wait_s):
                await self.slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no free connection within the pool timeout") from None

    def take_idle(self, now: float) -> Connection | None:
        while self.idle:
            connection = self.idle.pop()
            if not connection.closed and now - connection.idle_since < self.keepalive_expiry:
                return connection
            connection.close()
        return None

    def put_idle(self, connection: Connection, now: float) -> None:
        if self.closed:
            connection.close()
            return
        connection.idle_since = now
        self.idle.append(connection)

    def close(self) -> None:
        self.closed = True
        for connection in self.idle:
            connection.close()
        self.idle.clear()


def _delimited(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the answer says where its body ends (else it ends when the connection closes)."""
    names = {name.lower() for name, _ in headers}
    return b"content-length" in names or b"transfer-encoding" in names


def request_bytes(request: httpx.Request, body: bytes) -> bytes:
    """The request as HTTP/1.1 bytes (httpx already set Host and Content-Length)."""
    head = [request.method.encode(), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    for name, value in request.headers.raw:
        head += [name, b": ", value, b"\r\n"]
    if body and "transfer-encoding" in request.headers:  # a buffered stream: one chunk
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    return b"".join(head) + b"\r\n" + body


class KeepAliveTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        max_connections: int = 64,
        keepalive_expiry: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._limit = max_connections
        self._expiry = keepalive_expiry
        self._ssl = ssl_context
        self._pools: dict[tuple[bytes, bytes, int], Pool] = {}

    def _pool(self, origin: tuple[bytes, bytes, int]) -> Pool:
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = Pool(self._limit, self._expiry)
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if request.method == "HEAD" or url.raw_scheme not in DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"{request.method} {url.scheme} is not supported")
        timeouts = request.extensions.get("timeout", {})
        origin = (url.raw_scheme, url.raw_host, url.port or DEFAULT_PORTS[url.raw_scheme])
        pool = self._pool(origin)
        payload = request_bytes(request, await request.aread())
        await pool.acquire(timeouts.get("pool"))
        try:
            answer = await self._exchange(pool, origin, payload, timeouts)
        finally:
            pool.slots.release()
        return httpx.Response(
            answer.status,
            headers=answer.headers,
            stream=httpx.ByteStream(answer.body),
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def _exchange(
        self,
        pool: Pool,
        origin: tuple[bytes, bytes, int],
        payload: bytes,
        timeouts: dict[str, float | None],
    ) -> Answer:
        connection = pool.take_idle(time.monotonic())
        if connection is None:
            connection = await self._connect(origin, timeouts.get("connect"))
        try:
            answer = await connection.exchange(payload, timeouts.get("read"))
        except BaseException:
            connection.close()  # its state is unknown (cancelled, timed out, broken)
            raise
        if answer.keep_alive and not connection.closed:
            pool.put_idle(connection, time.monotonic())
        else:
            connection.close()
        return answer

    async def _connect(self, origin: tuple[bytes, bytes, int], wait_s: float | None) -> Connection:
        scheme, host, port = origin
        context = None
        if scheme == b"https":
            self._ssl = context = self._ssl or httpx.create_ssl_context()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(wait_s):
                _, connection = await loop.create_connection(
                    Connection,
                    host.decode("ascii"),
                    port,
                    ssl=context,
                    server_hostname=host.decode("ascii") if context else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"no connection to {host!r} within {wait_s} s") from None
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {host!r}: {exc}") from None
        return connection

    async def aclose(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
