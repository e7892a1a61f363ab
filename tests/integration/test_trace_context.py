"""W3C trace context end to end: one trace id from the webhook POST (continuing the client's
`traceparent`) through `inbound` → processors → `outbound` → the sender's Send API call, in the
record headers and in the spans; and spans exported over OTLP/HTTP to a local receiver."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hookstream.runtime.kafka import new_consumer, new_producer
from hookstream.runtime.otel import OtelTracer
from hookstream.runtime.settings import KafkaSettings, ProcessorSettings, Settings
from hookstream.runtime.tracing import TRACEPARENT, TraceContext, Tracer, context_of, record_headers
from ingress.app import create_app
from ingress.signature import sign
from ingress.splitter import split
from ingress.webhook import traceparents
from processors.batch import BatchProcessor, InRecord
from processors.core import Processor
from processors.metrics import ProcessorMetrics
from processors.runner import ProcessorsService
from tests.conftest import TEST_SECRET, settings_for
from tests.support.http import serve
from tests.support.otlp_receiver import otlp_receiver
from tests.support.processors_rig import Service, service_env, text_event, webhook_body
from tests.support.processors_unit import messaging, pages
from tests.support.sender_rig import (
    make_pages,
    running_sender,
    sandbox_and_url,
    sender_settings,
    sent_messages,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INCOMING = TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")


@contextlib.asynccontextmanager
async def running_processors(settings: Settings, tracer: Tracer) -> AsyncIterator[None]:
    service = ProcessorsService(settings, {})
    service.runtime.batch.tracer = tracer
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    await wait_for(lambda: service.ready() or task.done(), "processors ready", 120)
    if task.done():
        task.result()
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def headers_of(
    kafka: KafkaSettings, topic: str, expected: int
) -> list[list[tuple[str, bytes]]]:
    """The Kafka headers of the first `expected` records of `topic`."""
    consumer = new_consumer(kafka, kafka.topic(topic), group_id=None)
    await consumer.start()
    found: list[list[tuple[str, bytes]]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    try:
        while len(found) < expected and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                found += [list(m.headers) for m in messages]
    finally:
        await consumer.stop()
    assert len(found) >= expected, f"{topic}: {len(found)} of {expected} records"
    return found


def one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    named = [span for span in spans if span.name == name]
    assert len(named) == 1, [span.name for span in spans]
    return named[0]


def hex_ids(span: ReadableSpan) -> tuple[str, str, str]:
    """(trace id, span id, parent span id) as W3C hex."""
    ctx, parent = span.get_span_context(), span.parent
    assert ctx is not None and parent is not None, f"{span.name} has no parent"
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}", f"{parent.span_id:016x}"


async def test_one_trace_from_the_post_to_the_send_api_call(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = OtelTracer(provider)
    pages = make_pages()
    processors_settings = Settings.from_env(service_env(kafka_settings, tmp_path))
    ingress = create_app(settings_for(kafka_settings))
    ingress.handler.tracer = tracer
    async with (
        sandbox_and_url(pages) as (sandbox, sandbox_url),
        running_sender(
            sender_settings(Settings(kafka=kafka_settings), sandbox_url), pages
        ) as sender,
        running_processors(processors_settings, tracer),
        serve(ingress) as ingress_url,
    ):
        assert sender.deliverer is not None
        sender.deliverer.tracer = tracer  # read at each Send API call
        body = webhook_body([text_event("u1", 1, "what is the price?")])
        headers = {
            "x-hub-signature-256": sign(body, TEST_SECRET),
            "content-type": "application/json",
            TRACEPARENT: INCOMING.header().decode(),
        }
        async with httpx.AsyncClient() as client:
            answer = await client.post(f"{ingress_url}/webhook", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        await wait_for(lambda: len(sent_messages(sandbox)) >= 1, "the reply sent", 120)
        await wait_for(
            lambda: any(s.name == "sender.attempt" for s in exporter.get_finished_spans()),
            "the sender's span",
        )
        inbound = await headers_of(kafka_settings, "inbound", 1)
        outbound = await headers_of(kafka_settings, "outbound", 1)
        analytics = await headers_of(kafka_settings, "analytics", 2)
    spans = list(exporter.get_finished_spans())
    receive, process, attempt = (
        one(spans, name) for name in ("ingress.receive", "processors.process", "sender.attempt")
    )
    receive_ids, process_ids, attempt_ids = hex_ids(receive), hex_ids(process), hex_ids(attempt)
    # One trace id, the client's; each span a child of the one before it.
    assert {receive_ids[0], process_ids[0], attempt_ids[0]} == {INCOMING.trace_id}
    assert receive_ids[2] == INCOMING.span_id
    assert process_ids[2] == receive_ids[1]
    assert attempt_ids[2] == process_ids[1]
    assert attempt.attributes is not None and attempt.attributes["outcome"] == "ok"
    # The records carry it: inbound names the receive span, outbound the processing span.
    assert context_of(inbound[0]) == TraceContext(INCOMING.trace_id, receive_ids[1])
    assert context_of(outbound[0]) == TraceContext(INCOMING.trace_id, process_ids[1])
    facts = [context_of(h) for h in analytics]
    assert facts and all(ctx is not None and ctx.trace_id == INCOMING.trace_id for ctx in facts)


async def test_processors_export_spans_over_otlp_http(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    async with otlp_receiver() as (receiver, endpoint):
        env = {
            **service_env(kafka_settings, tmp_path),
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",  # the SDK's batch: export within 0.2 s
        }
        processors = Service("processors", env, tmp_path).start()
        try:
            await processors.ready()
            body = {
                "object": "page",
                "entry": [{"id": "1001", "time": 1, "messaging": [text_event("u1", 1, "price?")]}],
            }
            [record] = split(body, 1_767_225_600_000, "otlp-test")
            producer = new_producer(kafka_settings)
            await producer.start()
            try:
                await producer.send_and_wait(
                    kafka_settings.topic("inbound"),
                    record.value,
                    key=record.key,
                    headers=[(TRACEPARENT, INCOMING.header())],
                )
            finally:
                await producer.stop()
            await headers_of(kafka_settings, "outbound", 1)
            await wait_for(lambda: bool(receiver.named("processors.process")), "spans", 30)
        finally:
            processors.stop()
    [span] = receiver.named("processors.process")
    assert span.trace_id == INCOMING.trace_id
    assert span.parent_span_id == INCOMING.span_id
    assert span.service == "hookstream-processors"
    assert span.attributes["duplicate"] is False and span.attributes["commands"] == 1


async def test_every_output_of_a_record_carries_its_trace_dead_letters_too() -> None:
    config = pages()
    batch = BatchProcessor(
        Processor(ProcessorSettings(), lambda: config), ProcessorMetrics.create()
    )
    envelope = messaging(text_event("u1", 1, "what is the price?"))
    other = TraceContext("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
    records = [
        InRecord(
            "p.inbound", 0, 0, b"k", envelope.encode(), headers=tuple(record_headers(INCOMING))
        ),
        InRecord(
            "p.inbound", 0, 1, b"k", b"{not an envelope", headers=tuple(record_headers(other))
        ),
        InRecord("p.inbound", 0, 2, b"k2", b"{not an envelope"),  # no header: a new trace
    ]
    result = await batch.run(records, lambda _key: None, 1_767_225_600_000)
    by_topic: dict[tuple[str, str], int] = {}
    for out in result.outputs:
        ctx = context_of(out.headers)
        assert ctx is not None, out.topic
        assert ctx.span_id not in (INCOMING.span_id, other.span_id), "a child, not the parent"
        by_topic[(out.topic, ctx.trace_id)] = by_topic.get((out.topic, ctx.trace_id), 0) + 1
    assert by_topic[("outbound", INCOMING.trace_id)] == 1
    assert by_topic[("analytics", INCOMING.trace_id)] >= 1
    assert by_topic[("dlq", other.trace_id)] == 1
    assert by_topic[("analytics", other.trace_id)] == 1
    fresh = {trace for (topic, trace) in by_topic if topic == "dlq"} - {other.trace_id}
    assert len(fresh) == 1 and INCOMING.trace_id not in fresh


def test_without_an_exporter_each_event_gets_one_short_header() -> None:
    children = [context_of(h) for h in traceparents(INCOMING, 3)]
    assert all(c is not None and c.trace_id == INCOMING.trace_id for c in children)
    assert len({c.span_id for c in children if c}) == 3 and INCOMING not in children
    unsampled = TraceContext(INCOMING.trace_id, INCOMING.span_id, sampled=False)
    [header] = traceparents(unsampled, 1)
    child = context_of(header)
    assert child is not None and child.trace_id == INCOMING.trace_id and not child.sampled
    fresh = [context_of(h) for h in traceparents(None, 3)]
    assert all(c is not None and c.sampled for c in fresh)
    assert len({c.trace_id for c in fresh if c}) == 3
