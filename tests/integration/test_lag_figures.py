"""The lag collector's figures on a known layout, against the embedded broker."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from aiokafka import TopicPartition

from hookstream.cli import main
from hookstream.ops.collect import LagCollector
from hookstream.ops.table import as_json
from hookstream.runtime.settings import KafkaSettings
from tests.support.ops_rig import commit_as_group, produce_one_per_batch

pytestmark = pytest.mark.integration


async def test_exact_lag_in_messages_and_seconds(kafka_settings: KafkaSettings) -> None:
    topic = kafka_settings.topic("inbound")
    start_ms = int(time.time() * 1000) - 60_000
    await produce_one_per_batch(kafka_settings, topic, {0: 6, 1: 3}, start_ms=start_ms)
    group = f"{kafka_settings.topic_prefix}processors"
    await commit_as_group(
        kafka_settings, group, {TopicPartition(topic, 0): 2, TopicPartition(topic, 1): 3}
    )
    others = [f"{kafka_settings.topic_prefix}sink", f"{kafka_settings.topic_prefix}sender"]
    for other in others:  # several groups: described one by one (embedded broker defect)
        await commit_as_group(kafka_settings, other, {TopicPartition(topic, 0): 6})
    collector = LagCollector(kafka_settings)
    await collector.start()
    try:
        await collector.collect()
        snapshot = await collector.collect()  # a second round reuses the cached record times
    finally:
        await collector.close()
    described = {g.group: (g.state, g.members) for g in snapshot.groups}
    assert {group, *others} <= set(described) and described[group] == ("Empty", 0)
    assert {r.lag for r in snapshot.rows if r.group in others} == {0}
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
    assert {
        "group": group,
        "topic": topic,
        "partition": 0,
        "committed": 2,
        "end": 6,
        "lag": 4,
    }.items() <= next(
        p for p in document["partitions"] if p["group"] == group and p["partition"] == 0
    ).items()


async def test_lag_command_prints_the_table_and_json(
    kafka_settings: KafkaSettings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic = kafka_settings.topic("outbound")
    await produce_one_per_batch(kafka_settings, topic, {3: 5})
    group = f"{kafka_settings.topic_prefix}sender"
    await commit_as_group(kafka_settings, group, {TopicPartition(topic, 3): 1})
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_settings.bootstrap_servers)
    monkeypatch.setenv("HOOKSTREAM_TOPIC_PREFIX", kafka_settings.topic_prefix)
    assert await asyncio.to_thread(main, ["lag", "--group", group]) == 0
    out = capsys.readouterr().out
    assert "GROUP" in out and "LAG_SECONDS" in out
    assert f"{group}  {topic}  3          1          5    4" in out
    assert f"group {group}: stopped (no member), lag 4, status OK" in out
    assert await asyncio.to_thread(main, ["lag", "--group", group, "--json"]) == 0
    document = orjson.loads(capsys.readouterr().out)
    assert [(p["partition"], p["lag"]) for p in document["partitions"]] == [(3, 4)]
