"""Batched produce: records grouped per topic-partition into aiokafka batches (one future per
batch, not per record), in order, with the same murmur2 partitioner as every other producer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from hookstream.runtime.kafka import CachedPartitioner

PARTITIONER = CachedPartitioner()


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes
    partition: int | None = None  # None: by key, as Kafka's default partitioner
    headers: list[tuple[str, bytes]] | None = None  # e.g. the record's traceparent


async def _partitions(producer: AIOKafkaProducer, topics: set[str]) -> dict[str, list[int]]:
    return {topic: sorted(await producer.partitions_for(topic)) for topic in topics}


def _partition_of(record: Outgoing, partitions: list[int]) -> int:
    if record.partition is not None:
        return record.partition
    return int(PARTITIONER(record.key, partitions, partitions))


async def send_batched(
    producer: AIOKafkaProducer, records: Sequence[Outgoing]
) -> list[asyncio.Future[Any]]:
    """Queue every record; the futures resolve when the broker acknowledged their batches."""
    partitions = await _partitions(producer, {r.topic for r in records})
    groups: dict[tuple[str, int], list[Outgoing]] = {}
    for record in records:
        tp = (record.topic, _partition_of(record, partitions[record.topic]))
        groups.setdefault(tp, []).append(record)
    futures = []
    for (topic, partition), group in groups.items():
        batch = producer.create_batch()
        for record in group:
            headers = record.headers or []
            if (
                batch.append(key=record.key, value=record.value, timestamp=None, headers=headers)
                is None
            ):
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                batch.append(key=record.key, value=record.value, timestamp=None, headers=headers)
        futures.append(await producer.send_batch(batch, topic, partition=partition))
    return futures
