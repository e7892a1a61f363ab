"""The lag exporter: collects every `interval_s`, serves the last snapshot as Prometheus metrics.

Metric names follow kafka_exporter, which operators' dashboards and alerts already use, plus the
lag in seconds and a Burrow-style status (0 OK, 1 WARN, 2 STALL, 3 STOP).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hookstream.ops.collect import LagCollector, Snapshot
from hookstream.ops.lag import sums
from hookstream.ops.status import Status
from hookstream.ops.tracker import StatusTracker
from hookstream.runtime.logging import event, get_logger

log = get_logger("lag-exporter")

STATUS_HELP = "Burrow-style consumer group status: 0 OK, 1 WARN, 2 STALL, 3 STOP"


@dataclass
class LagState:
    snapshot: Snapshot | None = None
    statuses: dict[str, Status] = field(default_factory=dict)
    failures: int = 0


def families(state: LagState) -> list[Metric]:
    """The metrics of one snapshot (pure: a snapshot in, metric families out)."""
    group_labels = ["consumergroup", "topic", "partition"]
    lag = GaugeMetricFamily("kafka_consumergroup_lag", "Lag in messages", labels=group_labels)
    current = GaugeMetricFamily(
        "kafka_consumergroup_current_offset", "Committed offset", labels=group_labels
    )
    seconds = GaugeMetricFamily(
        "kafka_consumergroup_lag_seconds",
        "Age of the oldest unconsumed record",
        labels=group_labels,
    )
    lag_sum = GaugeMetricFamily(
        "kafka_consumergroup_lag_sum",
        "Lag in messages over partitions",
        labels=["consumergroup", "topic"],
    )
    seconds_max = GaugeMetricFamily(
        "kafka_consumergroup_lag_seconds_max",
        "Oldest unconsumed record over partitions",
        labels=["consumergroup", "topic"],
    )
    end = GaugeMetricFamily(
        "kafka_topic_partition_current_offset",
        "End offset of a partition",
        labels=["topic", "partition"],
    )
    members = GaugeMetricFamily(
        "kafka_consumergroup_members", "Live members of the group", labels=["consumergroup"]
    )
    status = GaugeMetricFamily("kafka_consumergroup_status", STATUS_HELP, labels=["consumergroup"])
    corrected = GaugeMetricFamily(
        "hookstream_lag_end_corrected",
        "Partitions whose end offset the broker reported below the records it holds (the "
        "embedded broker's ListOffsets after multi-record batches); the metrics use the true end",
    )
    up = GaugeMetricFamily("hookstream_lag_exporter_up", "1 if the last collection succeeded")
    snap = state.snapshot
    up.add_metric([], 1.0 if snap is not None and state.failures == 0 else 0.0)
    if snap is None:
        return [up]
    corrected.add_metric([], len(snap.corrections))
    for row in snap.rows:
        labels = [row.group, row.topic, str(row.partition)]
        lag.add_metric(labels, row.lag)
        seconds.add_metric(labels, row.lag_seconds)
        if row.committed is not None:
            current.add_metric(labels, row.committed)
    for total in sums(snap.rows):
        lag_sum.add_metric([total.group, total.topic], total.lag)
        seconds_max.add_metric([total.group, total.topic], total.lag_seconds)
    for topic, partition, offset in snap.topic_ends:
        end.add_metric([topic, str(partition)], offset)
    for info in snap.groups:
        members.add_metric([info.group], info.members)
    for group, value in state.statuses.items():
        status.add_metric([group], int(value))
    return [lag, current, seconds, lag_sum, seconds_max, end, members, status, corrected, up]


@dataclass(eq=False)
class SnapshotCollector(Collector):
    state: LagState

    def collect(self) -> Iterator[Metric]:
        yield from families(self.state)


def register(registry: CollectorRegistry, state: LagState) -> None:
    registry.register(SnapshotCollector(state))


async def collect_forever(
    collector: LagCollector,
    tracker: StatusTracker,
    state: LagState,
    interval_s: float,
    stop: asyncio.Event,
) -> None:
    """Collect until `stop`; a failed round is logged and counted, the next one tries again."""
    while not stop.is_set():
        try:
            snapshot = await collector.collect()
            state.statuses = tracker.observe(snapshot)
            state.snapshot, state.failures = snapshot, 0
        except Exception as exc:  # noqa: BLE001 - a broker hiccup must not stop the exporter
            state.failures += 1
            event(
                log,
                "lag_collect_failed",
                logging.WARNING,
                error=type(exc).__name__,
                detail=str(exc)[:200],
                failures=state.failures,
            )
        try:
            await asyncio.wait_for(stop.wait(), interval_s)
        except TimeoutError:
            pass
