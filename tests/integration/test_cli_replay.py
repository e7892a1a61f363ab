"""Replay and redrive from a newcomer's terminal, against the real broker: the stack file gives
the tools their settings, a broker without idempotence is one line with nothing changed, a
failure after the plan was written says what moved and --finish / --undo / a rerun recover."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaTimeoutError

from hookstream.cli import main
from hookstream.embedded import stack_file
from hookstream.ops import dlq_topic, replay_apply
from hookstream.runtime.kafka import new_consumer, new_producer
from hookstream.runtime.replay_bound import load_plan
from hookstream.runtime.settings import KafkaSettings
from schemas.dlq import dead_letter_for
from tests.support.brokers import RunningKafka
from tests.support.kafka import read_topic
from tests.support.ops_rig import commit_as_group, produce_one_per_batch

pytestmark = pytest.mark.integration


def clear_kafka_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    for name in list(os.environ):
        if name.startswith(("KAFKA_", "HOOKSTREAM_")):
            monkeypatch.delenv(name)


@pytest.fixture
def beside_stack(
    kafka_settings: KafkaSettings,
    broker: RunningKafka,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Path:
    """A terminal next to a running `hookstream up`: no Kafka variable, only its stack file."""
    clear_kafka_env(monkeypatch, tmp_path)
    stack_file.write(
        tmp_path / ".hookstream",
        bootstrap_servers=kafka_settings.bootstrap_servers,
        broker="embedded" if not broker.idempotence else "kafka",
        idempotence=broker.idempotence,
        clickhouse_url="chdb://./.hookstream/analytics",
        topic_prefix=kafka_settings.topic_prefix,
        ports={},
        partitions=kafka_settings.partitions,
    )
    return tmp_path / ".hookstream"


@pytest.fixture
def idempotence_forced(
    kafka_settings: KafkaSettings,
    broker: RunningKafka,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> KafkaSettings:
    """A tool pointed at the embedded broker by hand, idempotence left at its default (on)."""
    if broker.idempotence:
        pytest.skip("this broker can do idempotence")
    clear_kafka_env(monkeypatch, tmp_path)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_settings.bootstrap_servers)
    monkeypatch.setenv("HOOKSTREAM_TOPIC_PREFIX", kafka_settings.topic_prefix)
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


async def two_partitions_at(
    settings: KafkaSettings, group: str, at: int
) -> tuple[TopicPartition, TopicPartition]:
    topic = settings.topic("inbound")
    tps = TopicPartition(topic, 0), TopicPartition(topic, 1)
    await produce_one_per_batch(settings, topic, {0: 6, 1: 6})
    await commit_as_group(settings, group, dict.fromkeys(tps, at))
    return tps


async def test_replay_beside_the_stack_uses_its_settings(
    beside_stack: Path, kafka_settings: KafkaSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    group = f"{kafka_settings.topic_prefix}processors"
    tps = await two_partitions_at(kafka_settings, group, 6)
    argv = ["replay", "--group", group, "--topic", "inbound", "--from", "2", "--execute"]
    assert await hookstream(*argv) == 0
    captured = capsys.readouterr()
    assert "applied" in captured.out and captured.err == ""
    assert "{" not in captured.out  # no JSON log line in the human output
    assert await committed(kafka_settings, group, list(tps)) == [2, 2]
    recorded = await load_plan(kafka_settings, group)
    assert recorded is not None
    assert [(p.partition, p.current) for p in recorded.partitions][:2] == [(0, 6), (1, 6)]
    on_disk = replay_apply.plan_file(beside_stack, group)
    assert orjson.loads(on_disk.read_bytes())["group"] == group


async def test_no_idempotence_is_one_line_and_nothing_moves(
    idempotence_forced: KafkaSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = idempotence_forced
    group = f"{settings.topic_prefix}processors"
    tps = await two_partitions_at(settings, group, 6)
    argv = ["replay", "--group", group, "--topic", "inbound", "--from", "2", "--execute"]
    assert await hookstream(*argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot do idempotent producers" in err[0], err
    assert "KAFKA_ENABLE_IDEMPOTENCE=false" in err[0]
    assert await committed(settings, group, list(tps)) == [6, 6]
    assert await load_plan(settings, group) is None


async def test_redrive_without_idempotence_is_one_line_and_sends_nothing(
    idempotence_forced: KafkaSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = idempotence_forced
    await put_dead_letters(settings, 2)
    assert await hookstream("dlq", "redrive", "--all") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot do idempotent producers" in err[0], err
    assert await read_topic(settings, "inbound", idle_s=0.5, timeout_s=5) == []


async def test_failed_commit_says_what_moved_then_finish_and_undo(
    beside_stack: Path,
    kafka_settings: KafkaSettings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    group = f"{kafka_settings.topic_prefix}processors"
    tps = await two_partitions_at(kafka_settings, group, 6)
    real_commit = replay_apply._commit
    only = ["--partition", "0", "--partition", "1"]

    async def commit_first_then_fail(
        committer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]
    ) -> None:
        first = min(offsets)
        await real_commit(committer, {first: offsets[first]})
        raise KafkaTimeoutError("the coordinator went away")

    monkeypatch.setattr(replay_apply, "_commit", commit_first_then_fail)
    argv = ["replay", "--group", group, "--topic", "inbound", "--from", "2", *only, "--execute"]
    assert await hookstream(*argv) == 1
    err = capsys.readouterr().err
    assert "is incomplete" in err and "KafkaTimeoutError" in err
    assert "At their targets: partitions 0; not moved: partitions 1." in err
    assert f"hookstream replay --group {group} --finish" in err
    assert f"hookstream replay --group {group} --undo" in err
    assert await committed(kafka_settings, group, list(tps)) == [2, 6]
    monkeypatch.setattr(replay_apply, "_commit", real_commit)

    assert await hookstream("replay", "--group", group, "--finish") == 0
    assert "finished" in capsys.readouterr().out
    assert await committed(kafka_settings, group, list(tps)) == [2, 2]

    assert await hookstream("replay", "--group", group, "--undo") == 0
    assert "undone" in capsys.readouterr().out
    assert await committed(kafka_settings, group, list(tps)) == [6, 6]
    assert await load_plan(kafka_settings, group) is None


async def test_replay_as_a_new_group_refuses_a_used_name(
    beside_stack: Path, kafka_settings: KafkaSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    used = f"{kafka_settings.topic_prefix}processors"
    await two_partitions_at(kafka_settings, used, 6)
    argv = ["replay", "--as", used, "--topic", "inbound", "--from", "0", "--execute"]
    assert await hookstream(*argv) == 1
    assert "already has committed offsets" in capsys.readouterr().err

    fresh = f"{kafka_settings.topic_prefix}processors-v2"
    argv = ["replay", "--as", fresh, "--topic", "inbound", "--from", "3", "--to", "5"]
    assert await hookstream(*argv, "--execute") == 0
    out = capsys.readouterr().out
    assert f"hookstream processors --as {fresh}" in out
    tps = [TopicPartition(kafka_settings.topic("inbound"), p) for p in (0, 1)]
    assert await committed(kafka_settings, fresh, tps) == [3, 3]


async def put_dead_letters(settings: KafkaSettings, count: int) -> list[str]:
    letters = [
        dead_letter_for(
            topic=settings.topic("inbound"),
            partition=0,
            offset=i,
            key=f"1001:u{i}".encode(),
            value=orjson.dumps({"n": i}),
            reason="invalid_envelope",
            error="cannot",
            service="processors",
            failed_at_ms=1_795_000_000_000 + i,
            page_id="1001",
        )
        for i in range(count)
    ]
    producer = new_producer(settings, linger_ms=0, enable_idempotence=False)
    await producer.start()
    try:
        for dead in letters:
            await producer.send_and_wait(settings.topic("dlq"), dead.encode(), key=b"k")
    finally:
        await producer.stop()
    return [dead.dead_letter_id for dead in letters]


async def test_redrive_failing_half_way_says_what_is_left_and_a_rerun_finishes(
    beside_stack: Path,
    kafka_settings: KafkaSettings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = await put_dead_letters(kafka_settings, 3)
    real_one = dlq_topic._redrive_one
    calls = 0

    async def fail_on_the_second(*args: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KafkaTimeoutError("broker gone")
        await real_one(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(dlq_topic, "_redrive_one", fail_on_the_second)
    assert await hookstream("dlq", "redrive", "--all") == 1
    err = capsys.readouterr().err
    assert "redrive incomplete: 1 of 3 record(s) redriven" in err
    assert f"not redriven: {ids[1]}, {ids[2]}" in err and "run the same command again" in err
    assert list((beside_stack / "redrives").iterdir())  # the plan was written first
    monkeypatch.setattr(dlq_topic, "_redrive_one", real_one)

    assert await hookstream("dlq", "redrive", "--all") == 0
    out = capsys.readouterr().out
    assert f"skip {ids[0]}: already redriven" in out and "redrove 2 record(s)" in out
    assert len(await read_topic(kafka_settings, "inbound", expected=3)) == 3


async def test_groups_delete_removes_a_finished_group_and_refuses_a_live_one(
    beside_stack: Path, kafka_settings: KafkaSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    finished = f"{kafka_settings.topic_prefix}replay-done"
    await two_partitions_at(kafka_settings, finished, 4)
    assert await hookstream("lag", "--group", finished) == 0
    assert f"group {finished}: stopped (no member)" in capsys.readouterr().out
    assert await hookstream("groups", "delete", finished) == 0
    assert capsys.readouterr().out.strip() == f"deleted group {finished}"
    assert await hookstream("lag") == 0
    assert finished not in capsys.readouterr().out
    assert await hookstream("groups", "delete", finished) == 0
    assert "nothing to delete" in capsys.readouterr().out

    live = f"{kafka_settings.topic_prefix}live"
    member = new_consumer(
        kafka_settings,
        kafka_settings.topic("inbound"),
        group_id=live,
        request_timeout_ms=30_000,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    await member.start()
    polling = asyncio.create_task(keep_polling(member))
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not member.assignment():
            assert loop.time() < deadline, "the member never joined"
            await asyncio.sleep(0.2)
        await member.commit({TopicPartition(kafka_settings.topic("inbound"), 0): 1})
        code = await hookstream("groups", "delete", live)
    finally:
        polling.cancel()
        await member.stop()
    assert code == 1
    assert "live member(s)" in capsys.readouterr().err
    tp = TopicPartition(kafka_settings.topic("inbound"), 0)
    assert await committed(kafka_settings, live, [tp]) == [1]


async def keep_polling(member: object) -> None:
    """A live member: it polls (so it heartbeats and rejoins on a rebalance)."""
    while True:
        await member.getmany(timeout_ms=200)  # type: ignore[attr-defined]


async def test_groups_delete_a_group_whose_consumer_stopped(
    beside_stack: Path, kafka_settings: KafkaSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    """The embedded broker keeps a stopped member listed ("Stable, 1 member"); the delete
    checks it by joining once and removes the group; real Kafka saw the member leave."""
    group = f"{kafka_settings.topic_prefix}reprocess-done"
    tp = TopicPartition(kafka_settings.topic("inbound"), 0)
    member = new_consumer(
        kafka_settings,
        tp.topic,
        group_id=group,
        request_timeout_ms=30_000,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    await member.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not member.assignment():
            assert loop.time() < deadline, "the member never joined"
            await member.getmany(timeout_ms=200)
        await member.commit({tp: 0})
    finally:
        await member.stop()
    assert await hookstream("groups", "delete", group) == 0
    assert capsys.readouterr().out.strip() == f"deleted group {group}"
    assert await committed(kafka_settings, group, [tp]) == [None]
