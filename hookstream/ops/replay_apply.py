"""Replay against Kafka: resolve positions, refuse live groups, record the bound, commit.

All or nothing, from the operator's view: everything that can fail before the first offset moves
is checked first (the group is stopped, the bounds topic exists, a producer can start on this
broker, the committer is connected), then the plan is written (a file in the
state dir, then the bound on `replay-bounds`), and only then the offsets are committed, in one
request. If that commit fails, `ReplayIncomplete` says which partitions moved and how to finish
(`--finish`, from the recorded plan) or undo (`--undo`) it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from hookstream.ops.collect import GroupInfo, describe_groups
from hookstream.ops.errors import GroupHasMembers, OpsError
from hookstream.ops.offsets import offsets_for_time
from hookstream.ops.producers import start_producer
from hookstream.ops.replay_plan import Position, build_plan, incomplete_message, refusal
from hookstream.runtime.kafka import TopicSpec, ensure_topics, new_admin, new_consumer
from hookstream.runtime.replay_bound import BOUNDS_TOPIC, load_plan
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


class ReplayIncomplete(OpsError):
    """The plan was recorded but committing the offsets failed: the message says what moved."""


def plan_file(state_dir: Path, group: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in group)
    return Path(state_dir) / "replays" / f"{safe}.json"


def save_plan_file(state_dir: Path, plan: ReplayPlan) -> Path:
    """The plan, on disk before anything moves (readable even if the broker is not)."""
    path = plan_file(state_dir, plan.group)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_plan(plan, int(time.time() * 1000)))
    return path


async def _commit(committer: AIOKafkaConsumer, offsets: Mapping[TopicPartition, int]) -> None:
    committer.assign(list(offsets))
    await committer.commit(dict(offsets))


async def _commit_or_explain(
    settings: KafkaSettings,
    plan: ReplayPlan,
    offsets: dict[TopicPartition, int],
    what: str,
    committer: AIOKafkaConsumer | None = None,
) -> None:
    if committer is None:
        committer = new_consumer(settings, group_id=plan.group)
        await committer.start()
    try:
        await _commit(committer, offsets)
    except CommitFailedError as exc:
        info = await group_info(settings, plan.group)
        if info.members > 0:
            raise GroupHasMembers(refusal(plan.group, info.state, info.members)) from exc
        raise await _incomplete(settings, plan, offsets, what, exc) from exc
    except KafkaError as exc:
        raise await _incomplete(settings, plan, offsets, what, exc) from exc
    finally:
        await committer.stop()


async def _incomplete(
    settings: KafkaSettings,
    plan: ReplayPlan,
    wanted: Mapping[TopicPartition, int],
    what: str,
    exc: BaseException,
) -> ReplayIncomplete:
    now: dict[int, int | None] = {}
    with contextlib.suppress(KafkaError, OSError):
        now = await committed(settings, plan)
    targets = {tp.partition: offset for tp, offset in wanted.items()}
    return ReplayIncomplete(incomplete_message(plan, targets, now, what, exc))


async def execute(settings: KafkaSettings, plan: ReplayPlan, state_dir: Path | None = None) -> None:
    """Record the plan, then commit the targets for the (stopped) group."""
    if not plan.partitions:
        raise OpsError(f"the plan for group {plan.group} has no partition: nothing to apply")
    await refuse_if_live(settings, plan.group)
    await ensure_topics(settings, [TopicSpec(BOUNDS_TOPIC, {"cleanup.policy": "compact"})])
    committer = new_consumer(settings, group_id=plan.group)
    await committer.start()
    try:
        first = TopicPartition(plan.topic, plan.partitions[0].partition)
        await committer.committed(first)  # the group's coordinator answers
        producer = await start_producer(settings)  # fails here on a broker without idempotence
        try:
            if state_dir is not None:
                save_plan_file(state_dir, plan)
            await _send_plan(producer, settings, plan, plan.group)
        finally:
            await producer.stop()
    except BaseException:
        await committer.stop()
        raise
    offsets = {TopicPartition(plan.topic, p.partition): p.target for p in plan.partitions}
    await _commit_or_explain(settings, plan, offsets, "the replay", committer)


async def recorded_plan(settings: KafkaSettings, group: str) -> ReplayPlan:
    plan = await load_plan(settings, group)
    if plan is None:
        raise OpsError(f"no replay recorded for group {group}")
    return plan


async def finish(settings: KafkaSettings, group: str) -> ReplayPlan:
    """Commit the recorded plan's targets (after a replay whose commit failed)."""
    plan = await recorded_plan(settings, group)
    await refuse_if_live(settings, group)
    offsets = {TopicPartition(plan.topic, p.partition): p.target for p in plan.partitions}
    await _commit_or_explain(settings, plan, offsets, "finishing the replay")
    return plan


async def undo(settings: KafkaSettings, group: str) -> tuple[ReplayPlan, list[int]]:
    """Put the group back where the recorded plan found it, and clear the bound. Returns the
    plan and the partitions that had no committed offset before (a fresh group: delete it)."""
    plan = await recorded_plan(settings, group)
    await refuse_if_live(settings, group)
    offsets = {
        TopicPartition(plan.topic, p.partition): p.current
        for p in plan.partitions
        if p.current is not None
    }
    if offsets:
        await _commit_or_explain(settings, plan, offsets, "undoing the replay")
    await record_plan(settings, None, group=group)
    return plan, [p.partition for p in plan.partitions if p.current is None]


async def _send_plan(
    producer: AIOKafkaProducer, settings: KafkaSettings, plan: ReplayPlan | None, group: str
) -> None:
    value = None if plan is None else encode_plan(plan, int(time.time() * 1000))
    await producer.send_and_wait(settings.topic(BOUNDS_TOPIC), value, key=group.encode())


async def record_plan(settings: KafkaSettings, plan: ReplayPlan | None, group: str = "") -> None:
    """The group's replay record (None: a tombstone that clears it)."""
    await ensure_topics(settings, [TopicSpec(BOUNDS_TOPIC, {"cleanup.policy": "compact"})])
    producer = await start_producer(settings)
    try:
        await _send_plan(producer, settings, plan, plan.group if plan is not None else group)
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
