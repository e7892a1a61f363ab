"""Spans through the OpenTelemetry SDK (the optional `otel` extra), parented on the W3C
contexts hookstream carries in record headers, exported over OTLP/HTTP in batches.

    tracer = OtelTracer.exporting(settings.tracing, "ingress")   # OTLP to the collector
    tracer = OtelTracer(provider)                                 # tests: an in-memory exporter
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

from hookstream.runtime.settings.tracing import TracingSettings
from hookstream.runtime.tracing import TraceContext, Tracer


def _parent(ctx: TraceContext) -> Any:
    flags = TraceFlags(TraceFlags.SAMPLED if ctx.sampled else TraceFlags.DEFAULT)
    remote = SpanContext(int(ctx.trace_id, 16), int(ctx.span_id, 16), True, flags)
    return trace.set_span_in_context(NonRecordingSpan(remote))


@dataclass
class OtelSpan:
    span: Any
    context: TraceContext

    def set(self, key: str, value: str | int | float | bool) -> None:
        self.span.set_attribute(key, value)

    def fail(self, reason: str) -> None:
        self.span.set_status(Status(StatusCode.ERROR, reason))

    def end(self) -> None:
        self.span.end()


class OtelTracer(Tracer):
    enabled = True

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("hookstream")

    @classmethod
    def exporting(cls, settings: TracingSettings, service: str) -> OtelTracer:
        name = settings.service_name or f"hookstream-{service}"
        provider = TracerProvider(resource=Resource.create({"service.name": name}))
        exporter = OTLPSpanExporter(endpoint=f"{settings.otlp_endpoint}/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider)

    def start(
        self,
        name: str,
        parent: TraceContext,
        attributes: Mapping[str, Any] | None = None,
        start_ns: int | None = None,
    ) -> OtelSpan:
        span = self.tracer.start_span(
            name, context=_parent(parent), attributes=attributes, start_time=start_ns
        )
        own = span.get_span_context()
        return OtelSpan(span, TraceContext(parent.trace_id, f"{own.span_id:016x}", parent.sampled))

    def root(
        self, name: str, attributes: Mapping[str, Any] | None = None, start_ns: int | None = None
    ) -> OtelSpan:
        # An empty context: the SDK makes a new trace id and the span has no parent.
        span = self.tracer.start_span(
            name, context=Context(), attributes=attributes, start_time=start_ns
        )
        own = span.get_span_context()
        context = TraceContext(
            f"{own.trace_id:032x}", f"{own.span_id:016x}", bool(own.trace_flags.sampled)
        )
        return OtelSpan(span, context)

    def shutdown(self) -> None:
        self.provider.shutdown()
