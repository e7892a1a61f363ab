"""W3C trace context (pure) and spans through the OpenTelemetry SDK's in-memory exporter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hookstream.runtime.otel import OtelTracer
from hookstream.runtime.settings.tracing import TracingSettings
from hookstream.runtime.tracing import (
    NOOP,
    TRACEPARENT,
    context_of,
    new_trace,
    parse_traceparent,
    record_headers,
    tracer_for,
)

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_valid_traceparent_is_continued() -> None:
    ctx = parse_traceparent(VALID)
    assert ctx is not None
    assert (ctx.trace_id, ctx.span_id, ctx.sampled) == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        True,
    )
    assert ctx.header().decode() == VALID
    child = ctx.child()
    assert child.trace_id == ctx.trace_id and child.span_id != ctx.span_id


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "garbage",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero span id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # uppercase
        VALID + "-extra",  # version 00 has exactly four fields
    ],
)
def test_malformed_traceparents_start_a_new_trace(value: str | None) -> None:
    assert parse_traceparent(value) is None


def test_a_future_version_with_more_fields_is_read() -> None:
    ctx = parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-later")
    assert ctx is not None and not ctx.sampled


@given(st.binary(max_size=600))
def test_no_header_value_raises(value: bytes) -> None:
    parsed = parse_traceparent(value)
    assert parsed is None or len(parsed.header()) == 55


def test_record_headers_round_trip() -> None:
    ctx = new_trace()
    headers = [("other", b"x"), *record_headers(ctx)]
    assert context_of(headers) == ctx
    assert context_of(None) is None and record_headers(None) == []
    assert headers[1][0] == TRACEPARENT


def test_without_a_collector_nothing_is_recorded() -> None:
    assert tracer_for(TracingSettings(), "ingress") is NOOP
    parent = new_trace()
    with NOOP.span("x", parent) as span:
        span.set("k", 1)
    assert span.context.trace_id == parent.trace_id


def test_spans_chain_into_one_trace_through_record_headers() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = OtelTracer(provider)
    incoming = parse_traceparent(VALID)
    assert incoming is not None
    with tracer.span("ingress.receive", incoming) as received:
        headers = record_headers(received.context)
    downstream = context_of(headers)
    assert downstream is not None
    with pytest.raises(RuntimeError), tracer.span("processors.process", downstream):
        raise RuntimeError("boom")
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["ingress.receive", "processors.process"]
    assert {f"{s.context.trace_id:032x}" for s in spans} == {incoming.trace_id}
    assert spans[1].parent is not None and spans[1].parent.span_id == spans[0].context.span_id
    assert not spans[1].status.is_ok


def test_a_root_span_has_no_parent_and_can_start_earlier() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = OtelTracer(provider)
    began = 1_767_225_600_000_000_000
    root = tracer.root("ingress.receive", {"request.id": "r1"}, start_ns=began)
    child = tracer.start("processors.process", root.context, start_ns=began + 5)
    child.end()
    root.end()
    finished_child, finished_root = exporter.get_finished_spans()
    assert finished_root.parent is None and finished_root.start_time == began
    assert f"{finished_root.context.trace_id:032x}" == root.context.trace_id
    assert f"{finished_root.context.span_id:016x}" == root.context.span_id
    assert finished_child.parent is not None
    assert finished_child.parent.span_id == finished_root.context.span_id
    assert finished_child.start_time == began + 5
    noop = NOOP.root("x")  # contexts only: a fresh trace
    assert noop.context.trace_id != NOOP.root("x").context.trace_id
