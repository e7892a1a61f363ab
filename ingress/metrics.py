"""The ingress's Prometheus metrics, on a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from hookstream.runtime.metrics import LATENCY_BUCKETS


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
        # Resolved once: looking a labelled child up per request costs on the hot path.
        self.webhook_ok = self.requests.labels("webhook", "200")
        self.broker_ready = Gauge(
            "hookstream_ingress_broker_ready",
            "1 while the broker answers, else 0",
            registry=registry,
        )
