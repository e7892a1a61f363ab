"""Prometheus metrics of the sender (one registry per service)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from hookstream.runtime.metrics import LATENCY_BUCKETS


class SenderMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.outcomes = Counter(
            "hookstream_sender_commands_total",
            "Commands finished, by outcome",
            ["outcome"],
            registry=registry,
        )
        self.calls = Counter(
            "hookstream_sender_calls_total",
            "Send API calls, by result",
            ["result"],
            registry=registry,
        )
        self.retries = Counter(
            "hookstream_sender_retries_total",
            "Send API calls retried, by reason",
            ["reason"],
            registry=registry,
        )
        self.beyond_replay_bound = Gauge(
            "hookstream_sender_beyond_replay_bound",
            "records acknowledged unprocessed past a bounded replay's stop, since start",
            registry=registry,
        )
        self.latency = Histogram(
            "hookstream_sender_delivery_seconds",
            "Command created -> delivered",
            buckets=(*LATENCY_BUCKETS, 30.0, 60.0),
            registry=registry,
        )
        self.page_stopped = Gauge(
            "hookstream_sender_page_stopped",
            "1 while a page is stopped (token 190, policy 368, restricted 10/1893063)",
            ["page_id"],
            registry=registry,
        )
        self.page_rate = Gauge(
            "hookstream_sender_page_rate",
            "Current send rate allowed per page (calls/s)",
            ["page_id"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "hookstream_sender_in_flight", "Commands read and not finished", registry=registry
        )
        self.dead_letters = Counter(
            "hookstream_sender_dead_letters_total",
            "Commands dead-lettered, by reason (stale, retries_exhausted, invalid_command, ...)",
            ["reason"],
            registry=registry,
        )
        self.retrying = Gauge(
            "hookstream_sender_retrying",
            "Commands waiting to retry a failed call (temporary errors, throttling)",
            registry=registry,
        )
        self.held = Gauge(
            "hookstream_sender_held", "Commands waiting on a stopped page", registry=registry
        )
        self.ledger_size = Gauge(
            "hookstream_sender_ledger_entries", "Entries in the delivered ledger", registry=registry
        )
