"""Offsets and record timestamps, read through one assigned consumer (no group).

`offsets_for_times` is the Kafka way from a time to an offset; the embedded Tansu broker answers
it with offset 0 (and timestamp -1 or the log's time) whatever the time asked. So each answer is
checked against the records around it (the record at the offset is at or after the time, the one
before it is earlier); when it does not hold, a binary search over record timestamps finds the
offset instead (one fetch per step).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

# what a fetch at a position tells: (partition, the records fetched there) -> a value, or None
Pick = Callable[[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]], int | None]


async def fetch_at(
    consumer: AIOKafkaConsumer,
    positions: Mapping[TopicPartition, int],
    pick: Pick,
    timeout_s: float = 2.0,
    records_each: int = 8,
) -> dict[TopicPartition, int]:
    """Fetch at each position until `pick` has a value for every partition (or time is up);
    missing where none came back."""
    if not positions:
        return {}
    consumer.assign(list(positions))
    for tp, offset in positions.items():
        consumer.seek(tp, offset)
    found: dict[TopicPartition, int] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while len(found) < len(positions) and loop.time() < deadline:
            wanted = [tp for tp in positions if tp not in found]
            batch = await consumer.getmany(
                *wanted, timeout_ms=200, max_records=len(wanted) * records_each
            )
            for tp in wanted:
                value = pick(tp, batch.get(tp, []))
                if value is not None:
                    found[tp] = value
    finally:
        # no background fetches afterwards: a long-polling fetch would hold up the metadata
        # and offset requests that share the connection
        consumer.unsubscribe()
    return found


async def record_timestamps(
    consumer: AIOKafkaConsumer,
    positions: dict[TopicPartition, int],
    timeout_s: float = 2.0,
) -> dict[TopicPartition, int]:
    """The timestamp (ms) of the record at each given offset; missing where none came back."""

    def stamp(tp: TopicPartition, records: Sequence[ConsumerRecord[bytes, bytes]]) -> int | None:
        first = next((r for r in records if r.offset >= positions[tp]), None)
        return None if first is None else first.timestamp

    return await fetch_at(consumer, positions, stamp, timeout_s)


async def record_timestamp(
    consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int
) -> int | None:
    return (await record_timestamps(consumer, {tp: offset})).get(tp)


async def offsets_for_time(
    consumer: AIOKafkaConsumer,
    tps: Iterable[TopicPartition],
    at_ms: int,
) -> dict[TopicPartition, int]:
    """Per partition the first offset whose record time is >= at_ms (the end if there is none)."""
    tps = list(tps)
    ends = await consumer.end_offsets(tps)
    begins = await consumer.beginning_offsets(tps)
    answer = await consumer.offsets_for_times({tp: at_ms for tp in tps})
    result: dict[TopicPartition, int] = {}
    for tp in tps:
        found = answer.get(tp)
        if found is None:
            result[tp] = ends[tp]
        elif await _holds(consumer, tp, found.offset, begins[tp], at_ms):
            result[tp] = found.offset
        else:
            result[tp] = await _search(consumer, tp, begins[tp], ends[tp], at_ms)
    return result


async def _holds(
    consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int, begin: int, at_ms: int
) -> bool:
    here = await record_timestamp(consumer, tp, offset)
    if here is None or here < at_ms:
        return False
    if offset <= begin:
        return True
    before = await record_timestamp(consumer, tp, offset - 1)
    return before is not None and before < at_ms


async def _search(
    consumer: AIOKafkaConsumer,
    tp: TopicPartition,
    low: int,
    high: int,
    at_ms: int,
) -> int:
    """Binary search of the first offset in [low, high) with a timestamp >= at_ms."""
    while low < high:
        middle = (low + high) // 2
        stamp = await record_timestamp(consumer, tp, middle)
        if stamp is None or stamp >= at_ms:
            high = middle
        else:
            low = middle + 1
    return low
