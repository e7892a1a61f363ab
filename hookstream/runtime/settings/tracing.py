"""Trace export settings: OpenTelemetry's own variables, so a collector setup carries over.

Both names are exceptions to the rule of rule.py (it would say HOOKSTREAM_TRACING_<FIELD>):
they are the OpenTelemetry SDK's standard ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from hookstream.runtime.settings.rule import no_trailing_slash, setting


@dataclass(frozen=True)
class TracingSettings:
    # Unset: trace context still travels in record headers and log lines; no span is exported.
    otlp_endpoint: str = setting("", name="OTEL_EXPORTER_OTLP_ENDPOINT", clean=no_trailing_slash)
    service_name: str = setting("", name="OTEL_SERVICE_NAME")  # empty: "hookstream-<service>"
