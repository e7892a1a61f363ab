"""The ingress's Prometheus metrics, on a registry of its own."""

from __future__ import annotations

from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from hookstream.runtime.metrics import LATENCY_BUCKETS


class GuardFigures(Protocol):
    inflight_bytes: int
    requests: int


class IngressMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "hookstream_ingress_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=registry,
        )
        self.rejections = Counter(
            "hookstream_ingress_rejections",
            "Rejected webhook requests by reason",
            ["reason"],
            registry=registry,
        )
        self.events = Counter(
            "hookstream_ingress_events",
            "Events acknowledged by Kafka, by platform and kind",
            ["platform", "kind"],
            registry=registry,
        )
        self.ack_latency = Histogram(
            "hookstream_ingress_ack_seconds",
            "Request received to Kafka acknowledged",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.body_timeouts = Counter(
            "hookstream_ingress_body_timeouts",
            "Requests answered 408 because their body did not arrive within the timeout",
            registry=registry,
        )
        # Resolved once: looking a labelled child up per request costs on the hot path.
        self.webhook_ok = self.requests.labels("webhook", "200")
        self.broker_ready = Gauge(
            "hookstream_ingress_broker_ready",
            "1 while the broker answers, else 0",
            registry=registry,
        )

    def watch_guard(self, guard: GuardFigures) -> None:
        """The body guard's figures, read at scrape time (nothing on the hot path)."""
        Gauge(
            "hookstream_ingress_body_bytes_in_flight",
            "Body bytes held beyond each request's small allowance, across connections",
            registry=self.registry,
        ).set_function(lambda: guard.inflight_bytes)
        Gauge(
            "hookstream_ingress_requests_in_progress",
            "Requests begun and not yet answered",
            registry=self.registry,
        ).set_function(lambda: guard.requests)
