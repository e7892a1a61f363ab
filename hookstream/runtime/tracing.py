"""W3C trace context carried with every record, and spans exported when a collector is set.

    ctx = parse_traceparent(request.headers.get("traceparent")) or new_trace()
    headers = [(TRACEPARENT, ctx.child().header())]          # on the Kafka record
    ctx = context_of(record.headers) or new_trace()          # downstream
    with tracer.span("hookstream.process", ctx, {"event.id": ...}) as span: ...
    span = tracer.root("ingress.receive", start_ns=arrived)    # a new trace: no parent at all

A span normally starts now and ends at `end()`; `start_ns` (epoch nanoseconds, `time.time_ns()`)
backdates its start to when the work began (the ingress: when the request arrived).

The context is pure and cheap (ids from os.urandom, a string on the record). Spans need the
OpenTelemetry SDK (the `otel` extra) and OTEL_EXPORTER_OTLP_ENDPOINT; without either the tracer
is NOOP: `span()` hands back a child context and records nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hookstream.runtime.settings.tracing import TracingSettings

TRACEPARENT = "traceparent"
_FORMAT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


@dataclass(frozen=True, slots=True)
class TraceContext:
    trace_id: str  # 32 lowercase hex digits, not all zero
    span_id: str  # 16 lowercase hex digits, not all zero: the span that caused what follows
    sampled: bool = True

    def header(self) -> bytes:
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}".encode()

    def child(self) -> TraceContext:
        return TraceContext(self.trace_id, _span_id(), self.sampled)


def _span_id() -> str:
    value = os.urandom(8).hex()
    return value if value != _ZERO_SPAN else _span_id()


def new_trace() -> TraceContext:
    trace_id = os.urandom(16).hex()
    return TraceContext(trace_id, _span_id()) if trace_id != _ZERO_TRACE else new_trace()


def parse_traceparent(value: str | bytes | None) -> TraceContext | None:
    """The context of a `traceparent` value, or None when it is absent or not valid W3C
    (then the caller starts a new trace rather than trusting a malformed one)."""
    if value is None:
        return None
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    match = _FORMAT.match(text.strip()[:512])
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or trace_id == _ZERO_TRACE:
        return None
    if span_id == _ZERO_SPAN:
        return None
    return TraceContext(trace_id, span_id, bool(int(flags, 16) & 1))


def context_of(headers: Sequence[tuple[str, bytes | None]] | None) -> TraceContext | None:
    """The trace context in a Kafka record's headers, if any."""
    for name, value in headers or ():
        if name == TRACEPARENT:
            return parse_traceparent(value)
    return None


def record_headers(ctx: TraceContext | None) -> list[tuple[str, bytes]]:
    return [(TRACEPARENT, ctx.header())] if ctx is not None else []


class Span(Protocol):
    context: TraceContext

    def set(self, key: str, value: str | int | float | bool) -> None: ...

    def fail(self, reason: str) -> None: ...

    def end(self) -> None: ...


@dataclass
class _NoopSpan:
    context: TraceContext

    def set(self, key: str, value: str | int | float | bool) -> None:
        return None

    def fail(self, reason: str) -> None:
        return None

    def end(self) -> None:
        return None


class Tracer:
    """NOOP: contexts only. `OtelTracer` (hookstream.runtime.otel) records and exports."""

    enabled = False

    def start(
        self,
        name: str,
        parent: TraceContext,
        attributes: Mapping[str, Any] | None = None,
        start_ns: int | None = None,
    ) -> Span:
        """A span that is a child of `parent` (a remote context: a record's or a request's)."""
        return _NoopSpan(parent.child())

    def root(
        self, name: str, attributes: Mapping[str, Any] | None = None, start_ns: int | None = None
    ) -> Span:
        """A span that starts a new trace: no parent (not a made-up one) in the backend."""
        return _NoopSpan(new_trace())

    @contextlib.contextmanager
    def span(
        self, name: str, parent: TraceContext, attributes: Mapping[str, Any] | None = None
    ) -> Iterator[Span]:
        span = self.start(name, parent, attributes)
        try:
            yield span
        except BaseException as exc:
            span.fail(type(exc).__name__)
            raise
        finally:
            span.end()

    def shutdown(self) -> None:
        return None


NOOP = Tracer()


def tracer_for(settings: TracingSettings, service: str) -> Tracer:
    """The exporting tracer when a collector is configured and the SDK is installed."""
    if not settings.otlp_endpoint:
        return NOOP
    try:
        from hookstream.runtime.otel import OtelTracer
    except ImportError:
        from hookstream.runtime.logging import event, get_logger

        event(
            get_logger("hookstream.tracing"),
            "tracing_disabled",
            reason="OTEL_EXPORTER_OTLP_ENDPOINT is set but the OpenTelemetry SDK is not "
            "installed: pip install 'hookstream[otel]'",
        )
        return NOOP
    return OtelTracer.exporting(settings, service)
