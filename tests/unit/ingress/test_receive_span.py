"""The ingress.receive span: from the request's arrival (before its body is read) to the Kafka
ack; a child of the caller's traceparent, else the root of a new trace (no made-up parent)."""

from __future__ import annotations

import time
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hookstream.runtime.metrics import new_registry
from hookstream.runtime.otel import OtelTracer
from hookstream.runtime.settings import IngressSettings, Secret
from hookstream.runtime.tracing import context_of
from ingress.metrics import IngressMetrics
from ingress.signature import sign
from ingress.webhook import WebhookHandler
from tests.support.processors_rig import text_event, webhook_body

SECRET = "span-secret"
CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@dataclass
class Publisher:
    """Kafka that acknowledges at once; keeps each record's headers."""

    headers: list[list[tuple[str, bytes]]] = field(default_factory=list)

    async def publish(
        self,
        topic: str,
        records: Sequence[tuple[bytes | None, bytes]],
        deadline_s: float,
        headers: Sequence[list[tuple[str, bytes]]] | None = None,
    ) -> None:
        self.headers += list(headers or [])


async def post(traceparent: str | None) -> tuple[list[Any], Publisher, int]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    publisher = Publisher()
    handler = WebhookHandler(
        IngressSettings(app_secrets=(Secret(SECRET),)),
        publisher,  # type: ignore[arg-type]
        "t.inbound",
        IngressMetrics(new_registry()),
        tracer=OtelTracer(provider),
    )
    body = webhook_body([text_event("u1", 1), text_event("u2", 2)])
    headers = [
        (b"content-type", b"application/json"),
        (b"x-hub-signature-256", sign(body, SECRET).encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    if traceparent:
        headers.append((b"traceparent", traceparent.encode()))
    body_asked_ns: list[int] = []
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        body_asked_ns.append(time.time_ns())
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/webhook", "headers": headers}
    await handler.receive(scope, receive, send)
    assert sent[0]["status"] == 200
    return list(exporter.get_finished_spans()), publisher, body_asked_ns[0]


async def test_the_span_starts_before_the_body_is_read_and_continues_the_caller() -> None:
    spans, publisher, body_asked_ns = await post(CALLER)
    assert [s.name for s in spans] == ["ingress.receive", "ingress.receive"]
    for span in spans:
        assert span.start_time is not None and span.start_time <= body_asked_ns
        assert f"{span.context.trace_id:032x}" == CALLER.split("-")[1]
        assert span.parent is not None and f"{span.parent.span_id:016x}" == CALLER.split("-")[2]
    carried = [context_of(h) for h in publisher.headers]
    assert [c.span_id for c in carried if c] == [f"{s.context.span_id:016x}" for s in spans]


async def test_without_a_traceparent_each_event_is_the_root_of_its_own_trace() -> None:
    spans, publisher, body_asked_ns = await post(None)
    assert len(spans) == 2 and all(s.parent is None for s in spans)
    assert len({s.context.trace_id for s in spans}) == 2
    assert all(s.start_time is not None and s.start_time <= body_asked_ns for s in spans)
    carried = [context_of(h) for h in publisher.headers]
    assert [c.trace_id for c in carried if c] == [f"{s.context.trace_id:032x}" for s in spans]
