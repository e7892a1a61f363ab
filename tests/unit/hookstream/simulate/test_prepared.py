"""The load generator's pre-built requests: signed bytes the ingress verifies, the ids the ingress
gives their events, and the per-request path over keep-alive connections (loopback server)."""

from __future__ import annotations

import asyncio

import pytest

from hookstream.runtime.settings import Secret
from hookstream.simulate.runner import (
    Connection,
    LoadResult,
    Prepared,
    Target,
    _one,
    event_ids_of,
    parse_head,
    prepare,
    request_bytes,
    split_request,
)
from hookstream.simulate.traffic import TrafficModel
from ingress.errors import BadSignature
from ingress.signature import verify_signature
from ingress.splitter import parse_body, split
from schemas.envelope import decode_envelope

TARGET = Target("127.0.0.1", 8000, "/webhook")


def test_a_prebuilt_body_verifies_under_the_secret_and_only_under_it() -> None:
    for prepared in prepare(TrafficModel(seed=4), TARGET, "s3cret", 50):
        headers, body = split_request(prepared.request)
        assert int(headers["content-length"]) == len(body)
        assert headers["content-type"] == "application/json"
        signature = headers["x-hub-signature-256"]
        assert verify_signature(body, signature, None, [Secret("s3cret")]) == "sha256"
        with pytest.raises(BadSignature):
            verify_signature(body, signature, None, [Secret("other")])


def test_prebuilt_requests_carry_the_models_bodies_in_order() -> None:
    clock = lambda: 1.7e9  # noqa: E731
    reference = TrafficModel(seed=9, clock=clock)
    bodies = [reference.next_body() for _ in range(30)]
    prepared = prepare(TrafficModel(seed=9, clock=clock), TARGET, "s", 30)
    assert [split_request(p.request)[1] for p in prepared] == [b for b, _, _ in bodies]
    assert [(p.events, p.duplicate) for p in prepared] == [(e, d) for _, e, d in bodies]
    head = prepared[0].request.split(b"\r\n", 1)[0]
    assert head == b"POST /webhook HTTP/1.1"


def test_event_ids_are_those_the_ingress_gives_the_events() -> None:
    model = TrafficModel(seed=2, duplicate_rate=0.0)
    for prepared in prepare(model, TARGET, "s", 40, with_ids=True):
        _, body = split_request(prepared.request)
        records = split(parse_body(body), 0, "r")
        assert prepared.event_ids == tuple(decode_envelope(r.value).event_id for r in records)
        assert prepared.event_ids == event_ids_of(body)


def test_without_ids_none_are_computed() -> None:
    assert all(p.event_ids == () for p in prepare(TrafficModel(), TARGET, "s", 5))


def test_targets_are_http_or_https_with_port_and_query() -> None:
    assert Target.of("http://localhost:9000/webhook?x=1") == Target(
        "localhost", 9000, "/webhook?x=1"
    )
    assert Target.of("http://h/").port == 80
    assert Target.of("https://h/webhook") == Target("h", 443, "/webhook", tls=True)
    with pytest.raises(ValueError, match="http"):
        Target.of("ftp://h/webhook")


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\ncontent-length: 2", (200, 2, False)),
        (
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close",
            (503, 0, True),
        ),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked", (200, None, False)),
        (b"HTTP/1.1 401 Unauthorized", (401, None, True)),  # no length: read to the close
        (b"HTTP/1.0 200 OK\r\nContent-Length: 1", (200, 1, True)),
    ],
)
def test_response_heads(head: bytes, expected: tuple[int, int | None, bool]) -> None:
    assert parse_head(head) == expected


async def _server(replies: list[bytes]) -> tuple[asyncio.Server, list[int]]:
    """Answers each request with the next reply; counts the connections it accepted."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while replies:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(split_request(head + b"")[0]["content-length"])
                await reader.readexactly(length)
                reply = replies.pop(0)
                writer.write(reply)
                await writer.drain()
                if b"close" in reply:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0), connections


async def test_one_connection_is_kept_alive_and_reopened_after_a_close() -> None:
    ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"
    chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    closing = b"HTTP/1.1 503 Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    server, connections = await _server([ok, chunked, ok, closing, ok])
    port = server.sockets[0].getsockname()[1]
    target = Target("127.0.0.1", port, "/webhook")
    connection, result = Connection(target), LoadResult()
    body = b'{"object":"page","entry":[]}'
    prepared = Prepared(request_bytes(target, body, "s"), 0, False, ("message:m1",))
    async with server:
        for _ in range(5):
            await _one(connection, prepared, result)
        connection.close()
    assert dict(result.statuses) == {"200": 4, "503": 1}
    assert len(connections) == 2  # the fifth request went on a new connection
    assert result.acked_ids == {"message:m1"}
    assert len(result.latencies_s) == 5


async def test_nothing_listening_is_an_error_not_a_crash() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    target = Target("127.0.0.1", port, "/webhook")
    result = LoadResult()
    await _one(Connection(target), Prepared(request_bytes(target, b"{}", "s"), 1, False), result)
    assert dict(result.statuses) == {"error": 1}
    assert result.summary()["errors"] == 1
