"""The processors' Prometheus metrics, on a registry of their own."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

from hookstream.runtime.metrics import LATENCY_BUCKETS, new_registry


@dataclass(frozen=True)
class ProcessorMetrics:
    registry: CollectorRegistry
    events: Counter
    duplicates: Counter
    dead_letters: Counter
    errors: Counter
    commands: Counter
    facts: Counter
    rate_limited: Counter
    pages_reloads: Counter
    llm_failures: Counter
    beyond_replay_bound: Counter
    batch_seconds: Histogram
    lag_seconds: Histogram

    @classmethod
    def create(cls) -> ProcessorMetrics:
        r = new_registry()
        return cls(
            registry=r,
            events=Counter(
                "hookstream_processor_events_total",
                "inbound records processed",
                ["kind"],
                registry=r,
            ),
            duplicates=Counter(
                "hookstream_processor_duplicates_total",
                "redelivered events skipped by the dedupe window",
                registry=r,
            ),
            dead_letters=Counter(
                "hookstream_processor_dead_letters_total",
                "records sent to the dlq",
                ["reason"],
                registry=r,
            ),
            errors=Counter(
                "hookstream_processor_errors_total", "processing errors", ["reason"], registry=r
            ),
            commands=Counter(
                "hookstream_processor_commands_total",
                "outbound commands planned",
                ["origin"],
                registry=r,
            ),
            facts=Counter(
                "hookstream_processor_facts_total", "analytics facts emitted", ["fact"], registry=r
            ),
            rate_limited=Counter(
                "hookstream_processor_rate_limited_total",
                "messages not answered because of the per-user rate limit",
                registry=r,
            ),
            pages_reloads=Counter(
                "hookstream_processor_pages_reloads_total",
                "pages file reloads",
                ["result"],
                registry=r,
            ),
            llm_failures=Counter(
                "hookstream_processor_llm_failures_total", "LLM calls that fell back", registry=r
            ),
            beyond_replay_bound=Counter(
                "hookstream_processor_beyond_replay_bound_total",
                "records acknowledged unprocessed past a bounded replay's stop",
                registry=r,
            ),
            batch_seconds=Histogram(
                "hookstream_processor_batch_seconds",
                "time to process one batch",
                buckets=LATENCY_BUCKETS,
                registry=r,
            ),
            lag_seconds=Histogram(
                "hookstream_processor_received_to_processed_seconds",
                "ingress received -> processed",
                buckets=LATENCY_BUCKETS,
                registry=r,
            ),
        )
