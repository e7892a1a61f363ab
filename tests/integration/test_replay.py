"""Replay: plan and execute on a known offset layout, bounded replays honored by a consumer,
refusal while the group has live members. The CLI runs in-process (in a thread)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from aiokafka import TopicPartition

from hookstream.cli import main
from hookstream.runtime.consumer import BoundedConsumer
from hookstream.runtime.kafka import new_consumer
from hookstream.runtime.replay_bound import load_gate
from hookstream.runtime.settings import KafkaSettings
from tests.support.ops_rig import commit_as_group, produce_one_per_batch

pytestmark = pytest.mark.integration

T0_MS = 1_795_000_000_000  # 2026-11-17T...; record i of a partition is stamped T0 + i s


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


@pytest.fixture
def cli_env(kafka_settings: KafkaSettings, monkeypatch: pytest.MonkeyPatch) -> KafkaSettings:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_settings.bootstrap_servers)
    monkeypatch.setenv("HOOKSTREAM_TOPIC_PREFIX", kafka_settings.topic_prefix)
    # idempotent replay tools on Apache Kafka; off on the embedded broker, which cannot
    monkeypatch.setenv("KAFKA_ENABLE_IDEMPOTENCE", str(kafka_settings.enable_idempotence).lower())
    monkeypatch.setenv("KAFKA_PARTITIONS", str(kafka_settings.partitions))
    return kafka_settings


async def hookstream(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def committed(
    settings: KafkaSettings, group: str, tps: list[TopicPartition]
) -> list[int | None]:
    consumer = new_consumer(settings, group_id=group)
    await consumer.start()
    try:
        return [await consumer.committed(tp) for tp in tps]
    finally:
        await consumer.stop()


async def consume_honoring_bounds(
    settings: KafkaSettings, group: str, tp: TopicPartition, timeout_s: float = 30.0
) -> list[int]:
    """The services' consumer loop (`BoundedConsumer`) for `group` on one partition, until it
    reached the end: the offsets it handed out to process (each marked done and committed)."""
    consumer = new_consumer(settings, group_id=group)
    await consumer.start()
    processed: list[int] = []
    try:
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        consumer.seek(tp, await consumer.committed(tp) or 0)
        loop = BoundedConsumer(consumer, await load_gate(settings, group))
        deadline = asyncio.get_running_loop().time() + timeout_s
        while await consumer.position(tp) < end:
            assert asyncio.get_running_loop().time() < deadline, "stuck before the end"
            for taken in await loop.poll(timeout_ms=300):
                processed += [record.offset for record in taken.records]
                loop.done_all(taken)
            await loop.commit()
        while loop.book.to_commit():  # a refused commit is retried, as the services' loops do
            assert asyncio.get_running_loop().time() < deadline, "the last commit never went"
            await loop.commit()
    finally:
        await consumer.stop()
    return processed


async def test_plan_then_execute_a_bounded_time_range(
    cli_env: KafkaSettings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = cli_env
    topic = settings.topic("inbound")
    tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    await produce_one_per_batch(settings, topic, {0: 10, 1: 5}, start_ms=T0_MS)
    group = f"{settings.topic_prefix}processors"
    await commit_as_group(settings, group, {tp0: 8, tp1: 5})
    window = [
        "--group",
        group,
        "--topic",
        "inbound",
        "--partition",
        "0",
        "--partition",
        "1",
        "--from",
        iso(T0_MS + 4_500),
        "--to",
        iso(T0_MS + 7_500),
    ]

    assert await hookstream("replay", *window) == 0
    out = capsys.readouterr().out
    assert "8 -> 5" in out and "5 -> 5" in out and "3 record(s) to reprocess" in out
    assert "dry run" in out
    assert await committed(settings, group, [tp0, tp1]) == [8, 5]  # a dry run changes nothing

    assert await hookstream("replay", *window, "--execute") == 0
    assert "applied" in capsys.readouterr().out
    assert await committed(settings, group, [tp0, tp1]) == [5, 5]

    # the group's consumer reprocesses [5, 8) and carries on at 8 (where it was): no record of
    # [8, 10) is processed twice, none of [5, 8) is missed
    assert await consume_honoring_bounds(settings, group, tp0) == [5, 6, 7, 8, 9]
    assert await hookstream("replay", "--group", group, "--progress", "--timeout", "10") == 0
    assert "3/3 (100%)" in capsys.readouterr().err


async def test_replay_into_a_fresh_group_stops_at_the_bound(
    cli_env: KafkaSettings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = cli_env
    topic = settings.topic("inbound")
    tp = TopicPartition(topic, 2)
    await produce_one_per_batch(settings, topic, {2: 6})
    fresh = f"{settings.topic_prefix}processors-v2"
    assert (
        await hookstream(
            "replay",
            "--group",
            fresh,
            "--topic",
            "inbound",
            "--partition",
            "2",
            "--from",
            "1",
            "--to",
            "4",
            "--execute",
        )
        == 0
    )
    assert "- -> 1" in capsys.readouterr().out
    assert await consume_honoring_bounds(settings, fresh, tp) == [1, 2, 3]
    # what lies past the bound is acknowledged unprocessed, as the services do
    assert await committed(settings, fresh, [tp]) == [6]


async def test_refuses_while_the_group_has_live_members(
    cli_env: KafkaSettings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = cli_env
    topic = settings.topic("inbound")
    tp = TopicPartition(topic, 0)
    await produce_one_per_batch(settings, topic, {0: 4})
    group = f"{settings.topic_prefix}live"
    # the embedded broker answers a first JoinGroup after a few seconds: a long request timeout
    member = new_consumer(
        settings,
        topic,
        group_id=group,
        request_timeout_ms=30_000,
        session_timeout_ms=3000,
        heartbeat_interval_ms=1000,
    )
    await member.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not member.assignment():
            assert loop.time() < deadline, "the member never joined"
            await member.getmany(timeout_ms=200)
        await member.commit({tp: 3})
        code = await hookstream(
            "replay", "--group", group, "--topic", "inbound", "--from", "0", "--execute"
        )
    finally:
        await member.stop()
    assert code == 1
    err = capsys.readouterr().err
    assert "1 live member(s)" in err and "Stop every consumer of the group" in err
    assert await committed(settings, group, [tp]) == [3]


async def test_a_group_whose_consumer_stopped_is_replayed_at_once(
    cli_env: KafkaSettings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """On Apache Kafka a stopped consumer leaves its group, so the operator's replay right after
    stopping it is accepted (the embedded broker keeps the member until another joins)."""
    settings = cli_env
    if not settings.full_protocol:
        pytest.skip("the embedded broker keeps a stopped member in its group")
    topic = settings.topic("inbound")
    tp = TopicPartition(topic, 0)
    await produce_one_per_batch(settings, topic, {0: 5}, start_ms=T0_MS)
    group = f"{settings.topic_prefix}stopped"
    member = new_consumer(settings, topic, group_id=group, session_timeout_ms=6000)
    await member.start()
    try:
        seen = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while seen < 5:
            assert loop.time() < deadline, "the member never consumed"
            batch = await member.getmany(timeout_ms=500)
            seen += sum(len(records) for records in batch.values())
        await member.commit()
    finally:
        await member.stop()
    assert await committed(settings, group, [tp]) == [5]
    code = await hookstream(
        "replay", "--group", group, "--topic", "inbound", "--from", iso(T0_MS + 2000), "--execute"
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert await committed(settings, group, [tp]) == [2]
