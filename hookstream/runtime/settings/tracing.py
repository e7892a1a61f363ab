"""Trace export settings: OpenTelemetry's own variables, so a collector setup carries over."""

from __future__ import annotations

from dataclasses import dataclass

from hookstream.runtime.settings.env import Env


@dataclass(frozen=True)
class TracingSettings:
    # Unset: trace context still travels in record headers and log lines; no span is exported.
    otlp_endpoint: str = ""
    service_name: str = ""  # empty: "hookstream-<service>"

    @classmethod
    def from_env(cls, env: Env) -> TracingSettings:
        return cls(
            otlp_endpoint=env.string("OTEL_EXPORTER_OTLP_ENDPOINT").rstrip("/"),
            service_name=env.string("OTEL_SERVICE_NAME"),
        )
