"""Slow clients (issue 11, item 4): 200 connections that send part of a declared body are
answered 408 and closed when the body-read timeout passes, bytes they hold beyond the small
per-request allowance are capped across connections (503 server_busy beyond), and normal
webhooks are answered 200 meanwhile and afterwards."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx
import pytest

from hookstream.runtime.settings import Settings
from ingress.app import create_app
from ingress.signature import sign
from ingress.webhook import WebhookRouter
from schemas.envelope import decode_envelope
from tests.conftest import TEST_SECRET
from tests.support.http import serve, wait_until
from tests.support.kafka import read_topic
from tests.support.meta_samples import one_message_body

pytestmark = pytest.mark.integration

SLOW = 200
GREEDY = 20  # of them send 300 KB before stalling: more than the shared cap can hold
CAP = 2 * 1024 * 1024
SMALL = 64 * 1024


def partial_request(sent: int) -> bytes:
    head = (
        "POST /webhook HTTP/1.1\r\nhost: ingress\r\ncontent-type: application/json\r\n"
        "content-length: 1000000\r\nx-hub-signature-256: sha256=00\r\n\r\n"
    )
    return head.encode() + b"x" * sent


async def hold(url: str, sent: int, opened: asyncio.Event) -> bytes:
    """Send headers and `sent` bytes of a 1,000,000-byte body, then stall; return what the
    ingress answered by the time it closed the connection (b"" if the close came as a reset:
    the kernel resets a connection closed with unread bytes, and may drop the answer)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(partial_request(sent))
    await writer.drain()
    opened.set()
    try:
        return await asyncio.wait_for(reader.read(), timeout=60)  # read() returns at EOF
    except ConnectionResetError:
        return b""
    finally:
        writer.close()


def metric(text: str, name: str) -> int:
    line = next(line for line in text.splitlines() if line.startswith(name + " "))
    return int(float(line.rsplit(" ", 1)[1]))


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


async def test_slow_clients_are_cut_and_normal_webhooks_still_pass(settings: Settings) -> None:
    settings = replace(
        settings,
        ingress=replace(
            settings.ingress, body_timeout_s=1.5, max_inflight_bytes=CAP, small_body_bytes=SMALL
        ),
    )
    app = create_app(settings)
    assert isinstance(app, WebhookRouter)
    guard = app.handler.guard
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        opened = [asyncio.Event() for _ in range(SLOW)]
        sizes = [300_000 if i < GREEDY else 8_000 for i in range(SLOW)]
        slow = [asyncio.create_task(hold(url, s, o)) for s, o in zip(sizes, opened, strict=True)]
        for event in opened:
            await event.wait()
        # every slow connection's bytes have been taken (or refused) by the ingress
        await wait_until(lambda: guard.requests + sum(t.done() for t in slow) >= SLOW)
        assert guard.inflight_bytes <= CAP
        held_while_slow = guard.requests
        normal = []
        for i in range(20):
            body = one_message_body(mid=f"normal-{i}")
            response = await client.post(
                "/webhook",
                content=body,
                headers={
                    "content-type": "application/json",
                    "x-hub-signature-256": sign(body, TEST_SECRET),
                },
            )
            normal.append(response.status_code)
        answers = await asyncio.gather(*slow)
        await wait_until(lambda: guard.requests == 0 and guard.inflight_bytes == 0)
        after = one_message_body(mid="after")
        late = await client.post(
            "/webhook",
            content=after,
            headers={
                "content-type": "application/json",
                "x-hub-signature-256": sign(after, TEST_SECRET),
            },
        )
        metrics = (await client.get("/metrics")).text
    assert normal == [200] * 20 and late.status_code == 200
    assert held_while_slow >= SLOW - GREEDY  # the slow ones were being held, not refused
    # Every slow connection was answered and closed (none still open: gather returned).
    statuses = [status_of(a) for a in answers]
    assert set(statuses) <= {0, 408, 503}, statuses
    assert 503 not in statuses[GREEDY:]  # small bodies are never refused for the cap
    timeouts = metric(metrics, "hookstream_ingress_body_timeouts_total")
    busy = metric(metrics, 'hookstream_ingress_rejections_total{reason="server_busy"}')
    assert timeouts + busy == SLOW
    assert 1 <= busy <= GREEDY - CAP // (300_000 - SMALL) + 1  # the cap refused the rest
    cut = [a for a in answers[GREEDY:] if a]
    assert cut and all(b"body_timeout" in a and b"connection: close" in a.lower() for a in cut)
    records = await read_topic(settings.kafka, "inbound", expected=21)
    assert sorted(decode_envelope(r.value).raw["message"]["mid"] for r in records) == sorted(
        [f"normal-{i}" for i in range(20)] + ["after"]
    )


async def test_a_big_body_without_a_signature_is_refused_before_it_is_read(
    settings: Settings,
) -> None:
    # The body timeout is far longer than the wait below: an answer means it was not waited for.
    settings = replace(settings, ingress=replace(settings.ingress, body_timeout_s=600))
    async with serve(create_app(settings)) as url:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST /webhook HTTP/1.1\r\nhost: ingress\r\ncontent-type: application/json\r\n"
            b"content-length: 900000\r\n\r\n" + b"x" * 10
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=120)
        writer.close()
    assert status_of(answer) == 401 and b"missing X-Hub-Signature-256" in answer
