"""Reading topics back in tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from hookstream.runtime.kafka import new_consumer
from hookstream.runtime.settings import KafkaSettings


@dataclass(frozen=True)
class Consumed:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


async def read_topic(
    settings: KafkaSettings,
    name: str,
    expected: int | None = None,
    idle_s: float = 1.0,
    timeout_s: float = 30.0,
) -> list[Consumed]:
    """Read a topic from the beginning: until `expected` records, or until it stays idle."""
    consumer = new_consumer(settings, settings.topic(name), group_id=None)
    await consumer.start()
    records: list[Consumed] = []
    loop = asyncio.get_running_loop()
    deadline, last_new = loop.time() + timeout_s, loop.time()
    try:
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                records += [Consumed(m.partition, m.offset, m.key, m.value) for m in messages]
                last_new = loop.time()
            if expected is not None and len(records) >= expected:
                break
            if expected is None and loop.time() - last_new > idle_s:
                break
    finally:
        await consumer.stop()
    return records
