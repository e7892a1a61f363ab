"""Prometheus metrics of the sink (on its own registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from hookstream.runtime.metrics import LATENCY_BUCKETS
from sinks.writer import WriteResult


class SinkMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.rows = Counter(
            "hookstream_sink_rows_inserted_total",
            "Rows inserted into ClickHouse",
            registry=registry,
        )
        self.skipped = Counter(
            "hookstream_sink_rows_already_stored_total",
            "Facts dropped because ClickHouse already had them",
            registry=registry,
        )
        self.beyond_replay_bound = Counter(
            "hookstream_sink_beyond_replay_bound",
            "records acknowledged unprocessed past a bounded replay's stop",
            registry=registry,
        )
        self.rejected = Counter(
            "hookstream_sink_rows_rejected_total",
            "Rows ClickHouse refused (sent to the dlq)",
            registry=registry,
        )
        self.dead_letters = Counter(
            "hookstream_sink_dead_letters_total",
            "Records the sink sent to the dlq",
            registry=registry,
        )
        self.write_failures = Counter(
            "hookstream_sink_write_failures_total",
            "Batch writes that failed and were retried",
            registry=registry,
        )
        self.flush_seconds = Histogram(
            "hookstream_sink_flush_seconds",
            "Time to write one batch",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def observe(self, result: WriteResult, seconds: float) -> None:
        self.rows.inc(result.inserted)
        self.skipped.inc(result.skipped_existing)
        self.rejected.inc(len(result.rejected))
        self.flush_seconds.observe(seconds)
