"""The sender ledger against a real broker: the topic is created bounded (compact,delete, the
horizon as retention), a restarted instance resumes from its local copy's offsets, a fresh one
rebuilds from the topic, and a topic that keeps everything is reported."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hookstream.runtime.kafka import LEDGER_RETENTION_MS, TopicSpec, ensure_topics, new_producer
from hookstream.runtime.settings import KafkaSettings
from schemas.commands import command_id_for
from senders.ledger import Ledger, part_key, topic_retention
from senders.ledger_store import HORIZON_S

pytestmark = pytest.mark.integration


async def test_the_ledger_topic_keeps_the_default_horizon(kafka_settings: KafkaSettings) -> None:
    policy, retention_ms = await topic_retention(
        kafka_settings, kafka_settings.topic("sender-ledger")
    )
    assert set(policy.split(",")) == {"compact", "delete"}
    assert retention_ms == LEDGER_RETENTION_MS == HORIZON_S * 1000


async def test_a_restart_resumes_from_its_copy_and_a_fresh_instance_rebuilds(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    ids = [command_id_for(f"message:m_{i}", 0) for i in range(50)]
    producer = new_producer(kafka_settings)
    await producer.start()
    try:
        first = Ledger(kafka_settings, producer, state_dir=tmp_path / "a")
        await first.start()
        writes = [await first.record(cid, "delivered", "m") for cid in ids]
        writes.append(await first.record(part_key(ids[0], 0), "delivered", "m"))
        for write in writes:
            await write
        await first.catch_up()
        assert len(first) == 51
        await first.stop()

        again = Ledger(kafka_settings, producer, state_dir=tmp_path / "a")
        await again.start()  # the same slot: its copy and offsets
        assert again.book.offsets()  # resumed, not rebuilt from offset 0
        assert all(again.outcome(cid) == "delivered" for cid in ids)
        await again.stop()

        fresh = Ledger(kafka_settings, producer, state_dir=tmp_path / "b")
        await fresh.start()  # another machine: everything from the topic
        assert all(fresh.outcome(cid) == "delivered" for cid in ids)
        assert fresh.outcome(part_key(ids[0], 0)) == "delivered"
        assert fresh.outcome(command_id_for("message:m_never", 0)) is None
        await fresh.stop()
    finally:
        await producer.stop()


async def test_a_ledger_topic_that_keeps_everything_is_reported(
    kafka_settings: KafkaSettings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = KafkaSettings(
        bootstrap_servers=kafka_settings.bootstrap_servers,
        topic_prefix=kafka_settings.topic_prefix + "old.",
        partitions=kafka_settings.partitions,
        enable_idempotence=kafka_settings.enable_idempotence,
        request_timeout_s=kafka_settings.request_timeout_s,
    )
    await ensure_topics(old, [TopicSpec("sender-ledger", {"cleanup.policy": "compact"})])
    producer = new_producer(old)
    await producer.start()
    try:
        ledger = Ledger(old, producer, state_dir=tmp_path)
        with caplog.at_level(logging.WARNING, logger="hookstream.sender.ledger"):
            await ledger.start()
        await ledger.stop()
    finally:
        await producer.stop()
    assert any("ledger_topic_retention" in r.getMessage() for r in caplog.records)
