"""Helpers for the operations tests: known offset layouts on the embedded broker."""

from __future__ import annotations

from aiokafka import TopicPartition

from hookstream.runtime.kafka import new_consumer, new_producer
from hookstream.runtime.settings import KafkaSettings
from tests.support.kafka import started, to_the_end


async def produce_one_per_batch(
    settings: KafkaSettings,
    topic: str,
    layout: dict[int, int],
    start_ms: int | None = None,
    step_ms: int = 1000,
    value: bytes = b"{}",
) -> None:
    """`layout[partition]` records per partition, one record per batch (so the embedded broker
    reports exact end offsets), timestamps `start_ms + i * step_ms` when given."""
    producer = await started(new_producer(settings, linger_ms=0))  # cancelled: nothing open
    try:
        for partition, count in layout.items():
            for i in range(count):
                stamp = None if start_ms is None else start_ms + i * step_ms
                await producer.send_and_wait(
                    topic, value, key=f"k{i}".encode(), partition=partition, timestamp_ms=stamp
                )
    finally:
        await to_the_end(producer.stop())


async def commit_as_group(
    settings: KafkaSettings, group: str, offsets: dict[TopicPartition, int]
) -> None:
    """Commit offsets for a group the way a stopped group left them (assign, never join)."""
    consumer = await started(new_consumer(settings, group_id=group))
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await to_the_end(consumer.stop())
