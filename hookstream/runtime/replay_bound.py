"""Replay bounds: the stop offsets of a bounded replay, and the gate consumers use to honor them.

`hookstream replay --execute` records each replay on the compacted `replay-bounds` topic (key =
group): the topic, per partition the target and the stop offset, and whether the stop is a bound
(`--to`). A consumer honoring bounds loads its group's bound at start and asks the gate, per
record, whether to process it; at the stop offset of every partition its replay is done. The
services ask through `hookstream.runtime.consumer.admit` (the shared consumer loop), which
acknowledges what lies past the bound unprocessed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from hookstream.runtime.errors import BrokerUnavailable
from hookstream.runtime.kafka import new_consumer
from hookstream.runtime.settings import KafkaSettings
from schemas.replay import ReplayPlan, decode_plan

BOUNDS_TOPIC = "replay-bounds"  # after the prefix; compacted, key = group id


@dataclass(frozen=True)
class Bound:
    stop: int  # the replayed range ends here (exclusive)
    resume: int | None  # where the group was before the replay; None: a fresh group


@dataclass(frozen=True)
class Decision:
    process: bool
    seek_to: int | None = None  # skip the rest of the range up to where the group was
    pause: bool = False  # a fresh group's bounded replay is done on this partition


PROCESS = Decision(True)


@dataclass(frozen=True)
class StopGate:
    """What a consumer honoring a bounded replay does with the record at `offset`.

    Below the stop: process it. From the stop up to where the group was before the replay: skip
    to there (the group "stops" at the bound and carries on as before). A fresh group (no
    previous position) stops at the stop: nothing past it is processed. Safe across restarts:
    past the old position the bound no longer applies. `seek_to` and `pause` say where the
    skipped range ends; the services' consumer loop (which faust's agent cannot seek or pause)
    acknowledges each skipped record unprocessed instead, so their commits pass the bound.
    """

    bounds: Mapping[tuple[str, int], Bound]

    @classmethod
    def of(cls, plan: ReplayPlan | None) -> StopGate:
        if plan is None or not plan.bounded:
            return cls({})
        return cls({(plan.topic, p.partition): Bound(p.stop, p.current) for p in plan.partitions})

    def decide(self, topic: str, partition: int, offset: int) -> Decision:
        bound = self.bounds.get((topic, partition))
        if bound is None or offset < bound.stop:
            return PROCESS
        if bound.resume is None:
            return Decision(False, pause=True)
        if offset < bound.resume:
            return Decision(False, seek_to=bound.resume)
        return PROCESS

    def finished(self, positions: Mapping[tuple[str, int], int]) -> bool:
        """True when every bounded partition's position reached its stop."""
        return bool(self.bounds) and all(
            positions.get(key, -1) >= bound.stop for key, bound in self.bounds.items()
        )


async def load_gate(settings: KafkaSettings, group: str) -> StopGate:
    """The gate of the group's latest bounded replay (an open gate when there is none)."""
    return StopGate.of(await load_plan(settings, group))


async def load_plan(
    settings: KafkaSettings, group: str, timeout_s: float = 10.0
) -> ReplayPlan | None:
    """The group's latest replay record; read until the end and one empty fetch after it
    (end offsets are not trusted on the embedded broker)."""
    topic = settings.topic(BOUNDS_TOPIC)
    reader = new_consumer(settings, group_id=None)
    await reader.start()
    latest: bytes | None = None
    try:
        parts = (await reader._client.fetch_all_metadata()).partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        if not tps:
            return None
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        latest = await _last_value_for(reader, tps, group.encode(), timeout_s)
    finally:
        await reader.stop()
    return decode_plan(latest) if latest else None


async def _last_value_for(
    reader: AIOKafkaConsumer, tps: list[TopicPartition], key: bytes, timeout_s: float
) -> bytes | None:
    ends = await reader.end_offsets(tps)
    latest: bytes | None = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        batch = await reader.getmany(timeout_ms=300)
        for records in batch.values():
            for record in records:
                if record.key == key:
                    latest = record.value
        positions = [await _position(reader, tp) for tp in tps]
        if not batch and all(at >= ends[tp] for at, tp in zip(positions, tps, strict=True)):
            return latest
    raise BrokerUnavailable(f"reading {tps[0].topic} did not finish within {timeout_s}s")


async def _position(reader: AIOKafkaConsumer, tp: TopicPartition) -> int:
    try:
        return int(await reader.position(tp))
    except KafkaError:
        return -1
