"""The sender and the sink honour a bounded replay (`hookstream replay --to`): a group replayed
over [from, to) handles exactly that range and acknowledges what lies past the bound unprocessed."""

from __future__ import annotations

import subprocess
import sys

import pytest
from clickhouse_connect.driver.client import Client

from hookstream.runtime.kafka import new_producer
from hookstream.runtime.settings import KafkaSettings, Settings
from tests.support.kafka import read_topic
from tests.support.sender_rig import (
    PAGE_A,
    command,
    make_pages,
    running_sender,
    sandbox_and_url,
    sender_settings,
    sent_messages,
    wait_for,
)
from tests.support.sink_rig import (
    encoded,
    message,
    metric,
    poll,
    running_sink,
    scalar,
    sink_settings,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RECORDS = 16
BOUND = 2  # --to 2: offsets 0 and 1 of every partition are replayed


async def produce_singly(
    kafka: KafkaSettings, topic: str, pairs: list[tuple[bytes, bytes]]
) -> None:
    """One record per batch: the embedded broker's end offsets are only right that way, and
    `replay` clamps `--to` to the end offsets."""
    producer = new_producer(kafka)
    try:
        await producer.start()
        for key, value in pairs:
            await producer.send_and_wait(kafka.topic(topic), value, key=key)
    finally:
        await producer.stop()


def replay_bounded(kafka: KafkaSettings, group: str, topic: str) -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_ENABLE_IDEMPOTENCE": "false",
        "HOOKSTREAM_TOPIC_PREFIX": kafka.topic_prefix,
        "PATH": "/usr/bin:/bin",
    }
    argv = [
        sys.executable,
        "-m",
        "hookstream",
        "replay",
        "--group",
        group,
        "--topic",
        topic,
        "--from",
        "earliest",
        "--to",
        str(BOUND),
        "--execute",
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


async def split_at_bound(kafka: KafkaSettings, topic: str) -> tuple[int, int]:
    records = await read_topic(kafka, topic, expected=RECORDS)
    below = sum(1 for r in records if r.offset < BOUND)
    return below, len(records) - below


async def test_sender_replays_only_the_bounded_range(kafka_settings: KafkaSettings) -> None:
    pages = make_pages()
    commands = [command(PAGE_A, f"u{i}", i) for i in range(RECORDS)]
    await produce_singly(
        kafka_settings, "outbound", [(c.conversation_id.encode(), c.encode()) for c in commands]
    )
    below, beyond = await split_at_bound(kafka_settings, "outbound")
    base = Settings(kafka=kafka_settings)
    async with sandbox_and_url(pages) as (sandbox, url):
        async with running_sender(sender_settings(base, url, consumer_group="live"), pages):
            await wait_for(lambda: len(sent_messages(sandbox)) >= RECORDS, "deliveries", 90)
        replay_bounded(kafka_settings, "replayed", "outbound")
        replayed = sender_settings(base, url, consumer_group="replayed")
        async with running_sender(replayed, pages) as sender:
            registry = sender.metrics.registry

            def settled() -> bool:
                skipped = registry.get_sample_value(
                    "hookstream_sender_commands_total", {"outcome": "skipped_duplicate"}
                )
                past = registry.get_sample_value("hookstream_sender_beyond_replay_bound")
                return skipped == below and past == beyond

            await wait_for(settled, "the bounded replay handled", 90)
        assert len(sent_messages(sandbox)) == RECORDS  # nothing sent twice
    assert 0 < below < RECORDS


async def test_sink_replays_only_the_bounded_range(
    kafka_settings: KafkaSettings,
    chdb_url: str,
    ch: Client,
) -> None:
    facts = [(k or b"", v) for k, v in encoded([message(1000 + i) for i in range(RECORDS)])]
    await produce_singly(kafka_settings, "analytics", facts)
    below, beyond = await split_at_bound(kafka_settings, "analytics")
    settings = sink_settings(kafka_settings, chdb_url)
    before = scalar(ch, "SELECT count() FROM hookstream.messages")
    async with running_sink(settings, group_id="sink-live"):
        await poll(
            lambda: scalar(ch, "SELECT count() FROM hookstream.messages") >= before + RECORDS,
            60,
            "facts stored",
        )
    replay_bounded(kafka_settings, "sink-replayed", "analytics")
    async with running_sink(settings, group_id="sink-replayed") as sink:
        await poll(
            lambda: (
                metric(sink, "hookstream_sink_beyond_replay_bound_total") == beyond
                and metric(sink, "hookstream_sink_rows_already_stored_total") == below
            ),
            60,
            "the bounded replay handled",
        )
    assert scalar(ch, "SELECT count() FROM hookstream.messages") == before + RECORDS
    assert 0 < below < RECORDS
