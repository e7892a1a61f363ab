"""Replay against Kafka: resolve positions, refuse live groups, commit, record the bound."""

from __future__ import annotations

import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError

from hookstream.ops.collect import GroupInfo, describe_groups
from hookstream.ops.errors import GroupHasMembers, OpsError
from hookstream.ops.offsets import offsets_for_time
from hookstream.ops.replay_plan import Position, build_plan, refusal
from hookstream.runtime.kafka import TopicSpec, ensure_topics, new_admin, new_consumer, new_producer
from hookstream.runtime.replay_bound import BOUNDS_TOPIC
from hookstream.runtime.settings import KafkaSettings
from schemas.replay import ReplayPlan, encode_plan

EMPTY = frozenset({"Empty", "Dead", ""})


async def group_info(settings: KafkaSettings, group: str) -> GroupInfo:
    admin = new_admin(settings)
    await admin.start()
    try:
        infos = await describe_groups(admin, [group])
    finally:
        await admin.close()
    return infos[0] if infos else GroupInfo(group, "Dead", 0)


async def refuse_if_live(settings: KafkaSettings, group: str) -> None:
    info = await group_info(settings, group)
    if info.members > 0 and info.state not in EMPTY:
        raise GroupHasMembers(refusal(group, info.state, info.members))


async def _resolve(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    position: Position,
) -> dict[int, int]:
    if position.offset is not None:
        return {tp.partition: position.offset for tp in tps}
    found = await offsets_for_time(consumer, tps, position.at_ms or 0)
    return {tp.partition: offset for tp, offset in found.items()}


async def plan_replay(
    settings: KafkaSettings,
    group: str,
    topic: str,
    start: Position,
    stop: Position | None,
    partitions: Sequence[int] = (),
) -> ReplayPlan:
    reader = new_consumer(settings, group_id=group)
    await reader.start()
    try:
        known = reader.partitions_for_topic(topic) or set()
        if not known:
            known = set(
                (await reader._client.fetch_all_metadata()).partitions_for_topic(topic) or ()
            )
        if not known:
            raise OpsError(f"topic {topic} does not exist")
        missing = set(partitions) - known
        if missing:
            raise OpsError(f"topic {topic} has no partition {sorted(missing)}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions or known)]
        current = {tp.partition: await reader.committed(tp) for tp in tps}
        beginnings = {tp.partition: o for tp, o in (await reader.beginning_offsets(tps)).items()}
        ends = {tp.partition: o for tp, o in (await reader.end_offsets(tps)).items()}
        targets = await _resolve(reader, tps, start)
        stops = await _resolve(reader, tps, stop) if stop is not None else None
    finally:
        await reader.stop()
    return build_plan(group, topic, current, beginnings, ends, targets, stops)


async def execute(settings: KafkaSettings, plan: ReplayPlan) -> None:
    """Commit the targets for the (stopped) group and record the replay on `replay-bounds`."""
    await refuse_if_live(settings, plan.group)
    await ensure_topics(settings, [TopicSpec(BOUNDS_TOPIC, {"cleanup.policy": "compact"})])
    offsets = {TopicPartition(plan.topic, p.partition): p.target for p in plan.partitions}
    committer = new_consumer(settings, group_id=plan.group)
    await committer.start()
    try:
        committer.assign(list(offsets))
        await committer.commit(offsets)
    except CommitFailedError as exc:
        info = await group_info(settings, plan.group)
        raise GroupHasMembers(refusal(plan.group, info.state, max(info.members, 1))) from exc
    finally:
        await committer.stop()
    await record_plan(settings, plan)


async def record_plan(settings: KafkaSettings, plan: ReplayPlan | None, group: str = "") -> None:
    """The group's replay record (None: a tombstone that clears it)."""
    producer = new_producer(settings, linger_ms=0)
    await producer.start()
    try:
        value = None if plan is None else encode_plan(plan, int(time.time() * 1000))
        key = (plan.group if plan is not None else group).encode()
        await producer.send_and_wait(settings.topic(BOUNDS_TOPIC), value, key=key)
    finally:
        await producer.stop()


async def committed(settings: KafkaSettings, plan: ReplayPlan) -> dict[int, int | None]:
    reader = new_consumer(settings, group_id=plan.group)
    await reader.start()
    try:
        return {
            p.partition: await reader.committed(TopicPartition(plan.topic, p.partition))
            for p in plan.partitions
        }
    finally:
        await reader.stop()
