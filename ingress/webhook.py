"""`GET /webhook` (Meta's verification) and `POST /webhook` (signed deliveries).

POST is the hot path: it is served as plain ASGI (see `WebhookRouter`), without Starlette's
Request/Response and middleware layers, which cost more than the HMAC and the split together.
"""

from __future__ import annotations

import hmac
import itertools
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from hookstream.runtime.errors import BrokerUnavailable
from hookstream.runtime.logging import client_value, event, get_logger, request_id_var
from hookstream.runtime.settings import IngressSettings
from hookstream.runtime.tracing import (
    NOOP,
    TRACEPARENT,
    Span,
    TraceContext,
    Tracer,
    parse_traceparent,
)
from ingress.errors import BodyTimeout, BodyTooLarge, IngressError, UnsupportedMediaType
from ingress.guard import CLOSE, BodyGuard, BodyRead, busy, busy_headers, respond
from ingress.metrics import IngressMetrics
from ingress.publisher import KafkaPublisher
from ingress.signature import verify_signature
from ingress.splitter import parse_body, split
from schemas.envelope import MAX_RAW_DEPTH

log = get_logger("ingress")
_getrandbits = random.getrandbits

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

REQUEST_ID_CHARS = 64
__all__ = ["WebhookHandler", "WebhookRouter", "read_limited", "request_id_from", "respond"]


@dataclass
class WebhookHandler:
    settings: IngressSettings
    publisher: KafkaPublisher
    topic: str
    metrics: IngressMetrics
    guard: BodyGuard = field(default_factory=BodyGuard)
    tracer: Tracer = NOOP  # spans "ingress.receive" when exporting (tracer_for at start)
    _event_counters: dict[tuple[str, str], Counter] = field(default_factory=dict)
    # Request ids: a random per-process prefix and a counter (no syscall per request).
    _id_prefix: str = field(default_factory=lambda: os.urandom(4).hex())
    _id_counter: itertools.count[int] = field(default_factory=itertools.count)

    def _next_id(self) -> str:
        return f"{self._id_prefix}{next(self._id_counter):08x}"

    async def verify(self, request: Request) -> Response:
        params = request.query_params
        token = params.get("hub.verify_token", "").encode()
        expected = self.settings.verify_token.reveal().encode()
        mode_ok = params.get("hub.mode") == "subscribe"
        if mode_ok and expected and hmac.compare_digest(token, expected):
            event(log, "webhook_verified")
            return PlainTextResponse(params.get("hub.challenge", ""))
        mode = client_value(params.get("hub.mode", ""), 64)
        event(log, "webhook_verification_refused", logging.WARNING, mode=mode)
        return PlainTextResponse("verification refused: wrong hub.mode or hub.verify_token", 403)

    async def receive(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        # The spans' start: when the request arrived (this ASGI call), not after its body.
        arrived_ns = time.time_ns() if self.tracer.enabled else 0
        headers = dict(scope["headers"])
        given_id = headers.get(b"x-request-id")
        request_id = request_id_from(given_id) if given_id else self._next_id()
        request_id_var.set(request_id)
        read = self.guard.begin(send)
        if read is None:
            exc = busy(self.guard)
            return await self._reject(send, exc, 503, exc.reason, busy_headers(self.guard))
        try:
            count = await self._accept(headers, receive, request_id, read, arrived_ns)
        except BodyTimeout as exc:
            # The guard answered 408 already (and closes the connection).
            self.metrics.rejections.labels(exc.reason).inc()
            self.metrics.requests.labels("webhook", str(exc.status_code)).inc()
            return None
        except IngressError as exc:
            if read.expired:
                return None
            # A body not read to its end: close the connection rather than drain the rest.
            close = [CLOSE] if read.guard.reading.get(read) is not None else []
            if exc.retry_after is not None:
                close = [(b"retry-after", str(int(exc.retry_after)).encode()), CLOSE]
            return await self._reject(send, exc, exc.status_code, exc.reason, close)
        except BrokerUnavailable as exc:
            retry = [(b"retry-after", str(self.settings.retry_after_s).encode())]
            return await self._reject(send, exc, 503, "broker_unavailable", retry)
        finally:
            self.guard.end(read)
        self.metrics.ack_latency.observe(time.perf_counter() - started)
        self.metrics.webhook_ok.inc()
        await respond(send, 200, orjson.dumps({"accepted": count, "request_id": request_id}))

    async def _accept(
        self,
        headers: dict[bytes, bytes],
        receive: Receive,
        request_id: str,
        read: BodyRead,
        arrived_ns: int = 0,
    ) -> int:
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            raise UnsupportedMediaType(
                f"content type must be application/json, got {client_value(content_type, 100)}"
            )
        sha256, sha1 = headers.get(b"x-hub-signature-256"), headers.get(b"x-hub-signature")
        if not sha256 and not (sha1 and self.settings.allow_sha1_signature):
            declared = headers.get(b"content-length", b"")
            if not declared.isdigit() or int(declared[:12]) > read.guard.small_body_bytes:
                # No signature that could verify: a big body is refused before it is read.
                verify_signature(b"", None, _text(sha1), (), self.settings.allow_sha1_signature)
        body = await read_limited(headers, receive, self.settings.max_body_bytes, read)
        verify_signature(
            body,
            sha256.decode("latin-1") if sha256 else None,
            sha1.decode("latin-1") if sha1 else None,
            self.settings.app_secrets,
            self.settings.allow_sha1_signature,
        )
        records = split(
            parse_body(body),
            int(time.time() * 1000),
            request_id,
            depth_checked=body.count(b"{") + body.count(b"[") < MAX_RAW_DEPTH,  # shallow()
            max_events=self.settings.max_events,
        )
        # W3C trace context per event: a child of the request's `traceparent`, else a new trace.
        incoming = parse_traceparent(headers.get(b"traceparent"))
        spans: list[Span] = []
        if self.tracer.enabled:
            spans = self._spans(incoming, len(records), request_id, arrived_ns or None)
            trace_headers = [[(TRACEPARENT, span.context.header())] for span in spans]
        else:
            trace_headers = traceparents(incoming, len(records))
        try:
            await self.publisher.publish(
                self.topic,
                [(r.key, r.value) for r in records],
                self.settings.ack_deadline_s,
                trace_headers,
            )
        except BaseException as exc:
            for span in spans:
                span.fail(type(exc).__name__)
            raise
        finally:
            for span in spans:
                span.end()
        for record in records:
            self._count(record.platform, record.kind)
        event(log, "webhook_accepted", logging.DEBUG, events=len(records), bytes=len(body))
        return len(records)

    def _spans(
        self, incoming: TraceContext | None, count: int, request_id: str, start_ns: int | None
    ) -> list[Span]:
        """One "ingress.receive" span per event, from the request's arrival: children of the
        caller's span, or each the root of a new trace."""
        attributes = {"request.id": request_id}
        if incoming is not None:
            start = self.tracer.start
            return [start("ingress.receive", incoming, attributes, start_ns) for _ in range(count)]
        root = self.tracer.root
        return [root("ingress.receive", attributes, start_ns) for _ in range(count)]

    def _count(self, platform: str, kind: str) -> None:
        counter = self._event_counters.get((platform, kind))
        if counter is None:
            counter = self._event_counters[(platform, kind)] = self.metrics.events.labels(
                platform, kind
            )
        counter.inc()

    async def _reject(
        self,
        send: Send,
        exc: Exception,
        status: int,
        reason: str,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.metrics.rejections.labels(reason).inc()
        self.metrics.requests.labels("webhook", str(status)).inc()
        detail = client_value(str(exc), 300)
        event(log, "webhook_rejected", logging.WARNING, status=status, reason=reason, detail=detail)
        await respond(send, status, orjson.dumps({"error": reason, "detail": str(exc)}), headers)


def traceparents(incoming: TraceContext | None, count: int) -> list[list[tuple[str, bytes]]]:
    """`count` events' `traceparent` headers, children of `incoming` or each a new trace: the
    only per-event cost of tracing while no span is exported. Ids from `random.getrandbits`,
    as the OpenTelemetry SDK's own id generator (no syscall per event)."""
    if incoming is not None:
        head, flags = f"00-{incoming.trace_id}-", "-01" if incoming.sampled else "-00"
        return [
            [(TRACEPARENT, f"{head}{_getrandbits(64) or 1:016x}{flags}".encode())]
            for _ in range(count)
        ]
    return [
        [
            (
                TRACEPARENT,
                f"00-{_getrandbits(128) or 1:032x}-{_getrandbits(64) or 1:016x}-01".encode(),
            )
        ]
        for _ in range(count)
    ]


def _text(header: bytes | None) -> str | None:
    return header.decode("latin-1") if header else None


def request_id_from(header: bytes) -> str:
    """A client's X-Request-Id as the request's id: kept when short and printable, else
    truncated and escaped (it reaches every log line of the request and the envelopes)."""
    text = header.decode("latin-1")
    if len(text) <= REQUEST_ID_CHARS and text.isprintable():
        return text
    return client_value(text, REQUEST_ID_CHARS)


async def read_limited(
    headers: dict[bytes, bytes], receive: Receive, limit: int, read: BodyRead | None = None
) -> bytes:
    """The whole body, at most `limit` bytes; counted by `read` (bytes in flight, timeout).
    A body over the limit by at most another `limit` bytes is read to its end and dropped
    before the 413, so the client reads the answer on a connection that stays usable; a
    larger one is answered at once and its connection closed."""
    declared = headers.get(b"content-length", b"")
    if declared.isdigit() and (len(declared) > 12 or int(declared) > limit):
        too_large = BodyTooLarge(
            f"body of {client_value(declared, 20)} bytes exceeds the {limit}-byte limit"
        )
        if len(declared) <= 12 and int(declared) <= 2 * limit:
            await _drain(receive, read, 2 * limit)
        raise too_large
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):
        body: bytes = message.get("body", b"")  # the common case: one chunk, all of it
        if len(body) <= limit:
            if read is not None:
                read.last(len(body))
            return body
        if read is not None:
            read.body_done()
        raise BodyTooLarge(f"body exceeds the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            if read is not None and read.expired:
                raise BodyTimeout("the body did not arrive within the body-read timeout")
            raise IngressError("client disconnected before the body was complete")
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        size += len(chunk)
        if size > limit:
            chunks.clear()
            if more:
                await _drain(receive, read, limit)
            elif read is not None:
                read.body_done()
            raise BodyTooLarge(f"body exceeds the {limit}-byte limit")
        if read is not None:
            read.took(len(chunk))
        chunks.append(chunk)
        if not more:
            break
        message = await receive()
    if read is not None:
        read.body_done()
    return b"".join(chunks)


async def _drain(receive: Receive, read: BodyRead | None, budget: int) -> None:
    """Read and drop the rest of a body, at most `budget` bytes (within the body timeout);
    the body counts as done only if its end came."""
    while budget > 0:
        message = await receive()
        if message["type"] == "http.disconnect" or (read is not None and read.expired):
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            if read is not None:
                read.body_done()
            return


class WebhookRouter:
    """ASGI front: POST to a webhook path goes straight to the handler, the rest to Starlette."""

    def __init__(
        self,
        handler: WebhookHandler,
        fallback: Callable[[Scope, Receive, Send], Awaitable[None]],
        paths: tuple[str, ...],
    ) -> None:
        self.handler, self.fallback, self.paths = handler, fallback, frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.paths:
            await self.handler.receive(scope, receive, send)
        else:
            await self.fallback(scope, receive, send)
