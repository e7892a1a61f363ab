"""The lag collector's figures on a known layout, against the embedded broker."""

from __future__ import annotations

import time

import orjson
import pytest
from aiokafka import TopicPartition

from hookstream.ops.collect import LagCollector
from hookstream.ops.table import as_json
from hookstream.settings import KafkaSettings
from tests.integration.conftest_ops import commit_as_group, produce_one_per_batch

pytestmark = pytest.mark.integration


async def test_exact_lag_in_messages_and_seconds(kafka_settings: KafkaSettings) -> None:
    topic = kafka_settings.topic("inbound")
    start_ms = int(time.time() * 1000) - 60_000
    await produce_one_per_batch(kafka_settings, topic, {0: 6, 1: 3}, start_ms=start_ms)
    group = f"{kafka_settings.topic_prefix}processors"
    await commit_as_group(kafka_settings, group,
                          {TopicPartition(topic, 0): 2, TopicPartition(topic, 1): 3})
    collector = LagCollector(kafka_settings)
    await collector.start()
    try:
        snapshot = await collector.collect()
    finally:
        await collector.close()
    rows = {(r.topic, r.partition): r for r in snapshot.rows if r.group == group}
    assert set(rows) == {(topic, 0), (topic, 1)}
    assert (rows[(topic, 0)].committed, rows[(topic, 0)].end, rows[(topic, 0)].lag) == (2, 6, 4)
    assert (rows[(topic, 1)].committed, rows[(topic, 1)].end, rows[(topic, 1)].lag) == (3, 3, 0)
    # the oldest unconsumed record of partition 0 is offset 2, stamped start + 2 s
    expected_age = (snapshot.at_ms - (start_ms + 2000)) / 1000
    assert rows[(topic, 0)].lag_seconds == pytest.approx(expected_age, abs=0.01)
    assert rows[(topic, 1)].lag_seconds == 0.0
    ends = {(t, p): e for t, p, e in snapshot.topic_ends}
    assert ends[(topic, 0)] == 6 and ends[(kafka_settings.topic("outbound"), 0)] == 0
    document = orjson.loads(as_json(snapshot, {}))
    assert {"group": group, "topic": topic, "partition": 0, "committed": 2, "end": 6,
            "lag": 4}.items() <= next(
        p for p in document["partitions"] if p["group"] == group and p["partition"] == 0).items()
