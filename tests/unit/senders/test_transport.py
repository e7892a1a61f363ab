"""The keep-alive transport under httpx.AsyncClient, against a scripted local HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from hookstream.embedded.processes import free_port
from hookstream.runtime.settings import SenderSettings
from senders.errors import TemporarySendError
from senders.graph import GraphClient
from senders.http_transport import KeepAliveTransport

Script = Callable[[int, bytes], bytes | None]  # (request number, request head) -> raw answer


def answer(body: bytes = b'{"ok":true}', *headers: bytes, status: bytes = b"200 OK") -> bytes:
    head = [b"HTTP/1.1 " + status, b"content-type: application/json", *headers]
    if not any(h.lower().startswith((b"content-length", b"transfer-encoding")) for h in headers):
        head.append(b"content-length: %d" % len(body))
    return b"\r\n".join(head) + b"\r\n\r\n" + body


@dataclass
class Server:
    script: Script
    url: str = ""
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    open_now: int = 0
    most_open: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while not writer.is_closing():
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                self.requests.append(head + await reader.readexactly(length))
                reply = self.script(len(self.requests), head)
                if reply is None:  # close without answering
                    break
                await asyncio.sleep(0.01)  # let concurrent requests pile up
                writer.write(reply)
                await writer.drain()
                if b"connection: close" in reply.lower() or b"x-then-close" in reply:
                    break  # x-then-close: the server's keep-alive timeout, as if it ran out
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open_now -= 1
            writer.close()


@contextlib.asynccontextmanager
async def serving(script: Script, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    server = Server(script)
    port = free_port()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", port, ssl=tls)
    server.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    try:
        yield server
    finally:
        listener.close()
        await listener.wait_closed()


@contextlib.asynccontextmanager
async def client(
    max_connections: int = 8, timeout: float = 2.0, keepalive_expiry: float = 5.0
) -> AsyncIterator[httpx.AsyncClient]:
    transport = KeepAliveTransport(max_connections, keepalive_expiry)
    async with httpx.AsyncClient(transport=transport, timeout=timeout) as http:
        yield http


async def test_keeps_the_connection_alive_and_parses_answers() -> None:
    async with (
        serving(lambda n, _: answer(b'{"n":%d}' % n, b"x-page-usage: 1")) as server,
        client() as http,
    ):
        first = await http.post(f"{server.url}/v1/p/messages?access_token=t", content=b'{"a":1}')
        second = await http.post(f"{server.url}/v1/p/messages", content=b"{}")
    assert (first.status_code, first.json(), second.json()) == (200, {"n": 1}, {"n": 2})
    assert first.headers["x-page-usage"] == "1"
    assert server.connections == 1
    assert server.requests[0].startswith(b"POST /v1/p/messages?access_token=t HTTP/1.1\r\n")
    assert server.requests[0].endswith(b'\r\n\r\n{"a":1}')
    assert b"host: 127.0.0.1" in server.requests[0].lower()


async def test_chunked_and_compressed_answers_are_decoded() -> None:
    packed = gzip.compress(b'{"message_id":"m1"}')
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(packed), packed)
    reply = answer(chunked, b"transfer-encoding: chunked", b"content-encoding: gzip")
    async with serving(lambda n, _: reply) as server, client() as http:
        response = await http.post(server.url, content=b"{}")
    assert response.json() == {"message_id": "m1"}


async def test_connection_close_and_close_delimited_bodies() -> None:
    def script(n: int, _: bytes) -> bytes:
        if n == 1:
            return answer(b"{}", b"connection: close")
        return b"HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\n\r\n<html>down</html>"

    async with serving(script) as server, client() as http:
        first = await http.post(server.url, content=b"{}")
        second = await http.post(server.url, content=b"{}")
    assert first.status_code == 200
    assert (second.status_code, second.content) == (502, b"<html>down</html>")
    assert server.connections == 2


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async with serving(lambda n, _: answer(b"{}", b"x-then-close: 1")) as server, client() as http:
        await http.post(server.url, content=b"{}")
        await asyncio.sleep(0.05)  # the server's close reaches the idle connection
        second = await http.post(server.url, content=b"{}")
    assert second.status_code == 200
    assert server.connections == 2


async def test_a_request_the_server_drops_unanswered_raises() -> None:
    async with serving(lambda n, _: answer() if n != 2 else None) as server, client() as http:
        await http.post(server.url, content=b"{}")
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(server.url, content=b"{}")
        third = await http.post(server.url, content=b"{}")
    assert third.status_code == 200
    assert server.connections == 2


async def test_an_expired_idle_connection_is_replaced() -> None:
    async with serving(lambda n, _: answer()) as server, client(keepalive_expiry=0.05) as http:
        await http.post(server.url, content=b"{}")
        await asyncio.sleep(0.1)
        await http.post(server.url, content=b"{}")
    assert server.connections == 2


async def test_read_timeout_and_refused_connection_raise_httpx_errors() -> None:
    async def late(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await reader.read()  # never answers; ends when the client gives up and closes
        writer.close()

    port = free_port()
    listener = await asyncio.start_server(late, "127.0.0.1", port)
    try:
        async with client(timeout=0.2) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.post(f"http://127.0.0.1:{port}/", content=b"{}")
    finally:
        listener.close()
        await listener.wait_closed()
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.post(f"http://127.0.0.1:{free_port()}/", content=b"{}")


async def test_at_most_max_connections_are_open() -> None:
    async with serving(lambda n, _: answer()) as server, client(max_connections=3) as http:
        replies = await asyncio.gather(*(http.post(server.url, content=b"{}") for _ in range(20)))
    assert [r.status_code for r in replies] == [200] * 20
    assert server.most_open == 3


async def test_graph_client_reads_usage_ignores_cookies_and_classifies_errors() -> None:
    usage = b'x-app-usage: {"call_count": 85}'
    cookie = b"set-cookie: fr=abc; Path=/"

    def script(n: int, _: bytes) -> bytes:
        if n == 1:
            return answer(b'{"recipient_id":"u1","message_id":"m1"}', usage, cookie)
        return answer(b"<html>oops</html>", status=b"502 Bad Gateway")

    async with serving(script) as server:
        graph = GraphClient(SenderSettings(graph_api_base_url=server.url))
        try:
            sent = await graph.send("1001", "tok", {"recipient": {"id": "u1"}})
            with pytest.raises(TemporarySendError):
                await graph.send("1001", "tok", {"recipient": {"id": "u1"}})
        finally:
            await graph.close()
    assert (sent.success.message_id, sent.usage_percent) == ("m1", 85.0)
    assert server.requests[0].startswith(b"POST /v27.0/1001/messages?access_token=tok ")
    assert b"content-type: application/json" in server.requests[0].lower()
    assert server.requests[1].lower().count(b"cookie") == 0


def self_signed(directory: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_https_with_certificate_verification(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    async with serving(lambda n, _: answer(b'{"n":%d}' % n), server_side) as server:
        trusting = KeepAliveTransport(ssl_context=ssl.create_default_context(cafile=str(cert)))
        async with httpx.AsyncClient(transport=trusting) as http:
            replies = [(await http.post(server.url, content=b"{}")).json() for _ in range(2)]
        async with httpx.AsyncClient(transport=KeepAliveTransport()) as http:
            with pytest.raises(httpx.ConnectError):  # the system's roots do not know it
                await http.post(server.url, content=b"{}")
    assert replies == [{"n": 1}, {"n": 2}]
    assert server.connections == 1  # kept alive (a refused handshake never reaches the handler)
