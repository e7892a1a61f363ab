"""The exporter renders a snapshot with kafka_exporter's metric names."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hookstream.ops.collect import GroupInfo, Snapshot
from hookstream.ops.exporter import LagState, register
from hookstream.ops.lag import partition_lag
from hookstream.ops.lag_ends import EndCorrection
from hookstream.ops.status import Status
from hookstream.runtime.metrics import new_registry


def scrape(state: LagState) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = new_registry()
    register(registry, state)
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_of_a_snapshot() -> None:
    rows = (
        partition_lag("procs", "hs.inbound", 0, 2, 6, 1_000, 5_000),
        partition_lag("procs", "hs.inbound", 1, 3, 3, None, 5_000),
    )
    snap = Snapshot(
        5_000, rows, (GroupInfo("procs", "Empty", 0),), (("hs.inbound", 0, 6), ("hs.inbound", 1, 3))
    )
    metrics = scrape(LagState(snap, {"procs": Status.STOP}))
    p0 = (("consumergroup", "procs"), ("partition", "0"), ("topic", "hs.inbound"))
    assert metrics[("kafka_consumergroup_lag", p0)] == 4
    assert metrics[("kafka_consumergroup_current_offset", p0)] == 2
    assert metrics[("kafka_consumergroup_lag_seconds", p0)] == 4.0
    group_topic = (("consumergroup", "procs"), ("topic", "hs.inbound"))
    assert metrics[("kafka_consumergroup_lag_sum", group_topic)] == 4
    assert metrics[("kafka_consumergroup_lag_seconds_max", group_topic)] == 4.0
    end = (("partition", "1"), ("topic", "hs.inbound"))
    assert metrics[("kafka_topic_partition_current_offset", end)] == 3
    assert metrics[("kafka_consumergroup_status", (("consumergroup", "procs"),))] == 3
    assert metrics[("kafka_consumergroup_members", (("consumergroup", "procs"),))] == 0
    assert metrics[("hookstream_lag_exporter_up", ())] == 1


def test_before_the_first_collection_only_up_is_zero() -> None:
    assert scrape(LagState()) == {("hookstream_lag_exporter_up", ()): 0.0}


def test_corrected_ends_are_counted() -> None:
    rows = (partition_lag("procs", "hs.inbound", 0, 307, 307, None, 5_000),)
    fix = EndCorrection("hs.inbound", 0, reported=301, end=307, source="fetch")
    snap = Snapshot(5_000, rows, (), (("hs.inbound", 0, 307),), (fix,))
    metrics = scrape(LagState(snap, {}))
    assert metrics[("hookstream_lag_end_corrected", ())] == 1
    end = (("partition", "0"), ("topic", "hs.inbound"))
    assert metrics[("kafka_topic_partition_current_offset", end)] == 307
