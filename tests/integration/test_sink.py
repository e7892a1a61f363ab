"""The analytics sink against the real embedded broker and the real chDB engine."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest
from aiokafka import TopicPartition
from clickhouse_connect.driver.client import Client

from hookstream.runtime.kafka import new_consumer
from hookstream.runtime.metrics import new_registry
from hookstream.runtime.settings import KafkaSettings
from schemas.analytics import decode_fact
from schemas.dlq import decode_dead_letter
from sinks.batch import Batch, Source
from sinks.decode import add_record
from sinks.retry import Backoff
from sinks.rows import row_for
from sinks.service import AnalyticsSink
from sinks.writer import ClickHouseWriter, Prechecked
from tests.support.kafka import read_topic
from tests.support.sink_rig import (
    BASE_MS,
    dead,
    delivery,
    encoded,
    message,
    metric,
    poll,
    produce,
    reply,
    running_sink,
    scalar,
    sink_settings,
)

pytestmark = pytest.mark.integration


def mixed_facts(page: str, n: int) -> list:  # type: ignore[type-arg]
    facts: list = [message(i, page) for i in range(n)]  # type: ignore[type-arg]
    facts += [reply(i, page) for i in range(n // 2)]
    facts += [delivery(i, page) for i in range(n // 2)]
    facts += [dead(i, page) for i in range(3)]
    return facts


COUNTS = {
    "messages": "uniqExact(fact_id) FROM hookstream.messages",
    "messages_rows": "count() FROM hookstream.messages",
    "replies": "count() FROM hookstream.replies",
    "deliveries": "count() FROM hookstream.deliveries",
    "dead_letters": "count() FROM hookstream.dead_letters",
    "events_1m": "sum(events) FROM hookstream.messages_1m",
    "replies_1m": "sum(replies) FROM hookstream.replies_1m",
    "outcomes_1m": "sum(outcomes) FROM hookstream.deliveries_1m",
    "dlq_1m": "sum(dead_letters) FROM hookstream.dead_letters_1m",
}


def counts(client: Client, page: str) -> dict[str, int]:
    return {
        name: int(
            client.query(
                f"SELECT {what} WHERE page_id = %(page)s", parameters={"page": page}
            ).result_rows[0][0]
        )
        for name, what in COUNTS.items()
    }


EXPECTED_40 = {
    "messages": 40,
    "messages_rows": 40,
    "replies": 20,
    "deliveries": 20,
    "dead_letters": 3,
    "events_1m": 40,
    "replies_1m": 20,
    "outcomes_1m": 20,
    "dlq_1m": 3,
}


async def test_facts_become_queryable_rows_and_rollups(
    kafka_settings: KafkaSettings,
    chdb_url: str,
    ch: Client,
) -> None:
    await produce(kafka_settings, encoded(mixed_facts("p-basic", 40)))
    async with running_sink(sink_settings(kafka_settings, chdb_url)):
        await poll(lambda: counts(ch, "p-basic")["dead_letters"] == 3, what="rows stored")
        await poll(lambda: counts(ch, "p-basic") == EXPECTED_40, what="all rows stored")
    row = ch.query(
        "SELECT kind, processing_ms, attachment_types FROM hookstream.messages "
        "WHERE fact_id = 'msg:ep-basic-1'"
    ).result_rows
    assert row == [("message", 100, ["image"])]


async def test_replay_from_the_start_counts_nothing_twice(
    kafka_settings: KafkaSettings,
    chdb_url: str,
    ch: Client,
) -> None:
    facts = mixed_facts("p-replay", 40)
    await produce(kafka_settings, encoded(facts))
    settings = sink_settings(kafka_settings, chdb_url)
    async with running_sink(settings, group_id="first"):
        await poll(lambda: counts(ch, "p-replay") == EXPECTED_40, what="first pass stored")
    # A second consumer group reads the whole topic again: a replay.
    async with running_sink(settings, group_id="replay") as sink:
        await poll(
            lambda: metric(sink, "hookstream_sink_rows_already_stored_total") >= len(facts),
            what="replay consumed",
        )
        assert metric(sink, "hookstream_sink_rows_inserted_total") == 0
    assert counts(ch, "p-replay") == EXPECTED_40


async def test_restart_after_write_before_commit_counts_nothing_twice(
    kafka_settings: KafkaSettings,
    chdb_url: str,
    ch: Client,
) -> None:
    facts = mixed_facts("p-restart", 40)
    await produce(kafka_settings, encoded(facts))
    # What a sink that crashed between the ClickHouse write and the offset commit leaves:
    # rows stored (part of the topic), nothing committed.
    records = await read_topic(kafka_settings, "analytics", expected=len(facts))
    crashed = Batch()
    for record in records[: len(records) // 2]:
        add_record(crashed, _Record(kafka_settings.topic("analytics"), record), 0.0)
    ClickHouseWriter(ch, "hookstream").write(crashed)
    async with running_sink(sink_settings(kafka_settings, chdb_url)) as sink:
        await poll(
            lambda: (
                metric(sink, "hookstream_sink_rows_inserted_total")
                + metric(sink, "hookstream_sink_rows_already_stored_total")
                >= len(facts)
            ),
            what="restart consumed",
        )
        assert metric(sink, "hookstream_sink_rows_already_stored_total") == len(records) // 2
    assert counts(ch, "p-restart") == EXPECTED_40


async def test_a_fact_repeated_in_later_batches_counts_once(
    kafka_settings: KafkaSettings,
    chdb_url: str,
    ch: Client,
) -> None:
    # Every fact twice, the copies at later offsets (an upstream re-emit): with small batches
    # the copies land in the next batches, which are checked while earlier ones are written.
    facts = mixed_facts("p-again", 40)
    await produce(kafka_settings, encoded(facts) + encoded(facts))
    settings = sink_settings(kafka_settings, chdb_url, batch_rows=16)
    async with running_sink(settings, group_id="again"):

        async def all_committed() -> bool:
            return await committed(kafka_settings, "again") == 2 * len(facts)

        await poll(all_committed, what="both copies consumed")
    assert counts(ch, "p-again") == EXPECTED_40


def test_a_check_made_before_the_previous_batch_was_stored_is_completed_by_it(
    ch: Client,
) -> None:
    facts = [message(i, "p-pre") for i in range(6)]
    first, second = Batch(), Batch()
    for offset, fact in enumerate(facts[:4]):
        first.add_row(row_for(fact), Source("pre.analytics", 0, offset, None, None), 0.0)
    for offset, fact in enumerate(facts[2:], start=4):
        second.add_row(row_for(fact), Source("pre.analytics", 0, offset, None, None), 0.0)
    writer = ClickHouseWriter(ch, "hookstream")
    checked = Prechecked(writer.check(second))  # asked while `first` is not stored yet
    assert not any(checked.stored.values())
    assert writer.write(first).inserted == 4
    result = writer.write(second, replace(checked, since=first.seen & second.seen))
    assert (result.inserted, result.skipped_existing) == (2, 2)
    assert (counts(ch, "p-pre")["messages_rows"], counts(ch, "p-pre")["events_1m"]) == (6, 6)


async def test_malformed_and_refused_records_go_to_the_dlq_and_the_rest_goes_in(
    kafka_settings: KafkaSettings,
    chdb_url: str,
    ch: Client,
) -> None:
    good = [message(i, "p-bad") for i in range(5)]
    refused = message(99, "p-bad", text_length=-5)  # valid JSON, impossible for UInt32
    values = [*encoded(good[:2]), (b"1001:u1", b"{not json"), (b"1001:u2", b'{"fact": "x"}')]
    values += encoded([refused]) + encoded(good[2:])
    await produce(kafka_settings, values)
    async with running_sink(sink_settings(kafka_settings, chdb_url)):
        letters = await read_topic(kafka_settings, "dlq", expected=3)
        await poll(
            lambda: (
                scalar(ch, "SELECT count() FROM hookstream.dead_letters WHERE service = 'sink'")
                >= 3
            ),
            what="dlq facts",
        )
        await poll(
            lambda: (
                scalar(ch, "SELECT count() FROM hookstream.messages WHERE page_id = 'p-bad'") >= 5
            ),
            what="good rows",
        )
    dead_letters = sorted(
        (decode_dead_letter(r.value) for r in letters), key=lambda d: d.source_offset
    )
    assert [d.reason for d in dead_letters].count("invalid_analytics_fact") == 2
    rejected = [d for d in dead_letters if d.reason == "clickhouse_rejected"]
    assert len(rejected) == 1 and "text_length" in rejected[0].error
    assert decode_fact(rejected[0].original_bytes()).fact_id == refused.fact_id
    assert all(d.service == "sink" for d in dead_letters)
    assert scalar(ch, "SELECT count() FROM hookstream.messages WHERE page_id = 'p-bad'") == 5


async def test_facts_with_times_no_column_holds_never_stall_the_sink(
    kafka_settings: KafkaSettings,
    chdb_url: str,
    ch: Client,
) -> None:
    """A time of -2**63 used to fail the batch's "already stored?" query on every retry, so one
    fact stopped the sink for good; now such a fact is refused at the insert, alone."""
    good = [message(i, "p-ts") for i in range(4)]
    extreme = [
        replace(message(90, "p-ts"), received_at_ms=-(2**63)),
        replace(message(91, "p-ts"), received_at_ms=2**64 - 1, event_time_ms=2**64 - 1),
    ]
    await produce(kafka_settings, encoded(good[:2] + extreme + good[2:]))
    async with running_sink(sink_settings(kafka_settings, chdb_url)):
        await poll(
            lambda: (
                scalar(ch, "SELECT count() FROM hookstream.messages WHERE page_id = 'p-ts'") >= 4
            ),
            what="the good rows",
        )
        letters = await read_topic(kafka_settings, "dlq", expected=1)
    ids = {
        row[0]
        for row in ch.query(
            "SELECT fact_id FROM hookstream.messages WHERE page_id = 'p-ts'"
        ).result_rows
    }
    assert {f.fact_id for f in good} <= ids
    refused = {decode_fact(decode_dead_letter(r.value).original_bytes()).fact_id for r in letters}
    assert refused and refused <= {f.fact_id for f in extreme}
    assert refused.isdisjoint(ids)


class _Record:
    def __init__(self, topic: str, consumed: object) -> None:
        self.topic = topic
        self.partition = consumed.partition  # type: ignore[attr-defined]
        self.offset = consumed.offset  # type: ignore[attr-defined]
        self.key = consumed.key  # type: ignore[attr-defined]
        self.value = consumed.value  # type: ignore[attr-defined]


_ = (BASE_MS,)


async def test_unreachable_clickhouse_at_start_is_one_error_line_then_quiet_retries(
    kafka_settings: KafkaSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = sink_settings(kafka_settings, "http://bob:hunter2@127.0.0.1:9/analytics")
    sink = AnalyticsSink(settings, new_registry(), backoff=Backoff(0.02, 0.05))
    stop = asyncio.Event()
    with caplog.at_level(logging.DEBUG, logger="hookstream.sink"):
        task = asyncio.create_task(sink.run(stop))
        await poll(
            lambda: sum(r.getMessage() == "clickhouse_unavailable" for r in caplog.records) >= 3,
            what="three attempts",
        )
        stop.set()
        await asyncio.wait_for(task, 10)
    attempts = [r for r in caplog.records if r.getMessage() == "clickhouse_unavailable"]
    assert [r.levelno for r in attempts][:3] == [logging.ERROR, logging.DEBUG, logging.DEBUG]
    assert all(r.exc_info is None for r in caplog.records)
    logged = " ".join(str(getattr(r, "fields", "")) for r in caplog.records)
    assert "hunter2" not in logged and "bob@127.0.0.1:9/analytics" in logged
    assert not sink.ready()


async def committed(kafka: KafkaSettings, group: str) -> int:
    consumer = new_consumer(kafka, group_id=group)
    await consumer.start()
    try:
        topic = kafka.topic("analytics")
        # fresh metadata: after start, Apache Kafka's client has none for any topic yet
        partitions = (await consumer._client.fetch_all_metadata()).partitions_for_topic(
            topic
        ) or set()
        offsets = [await consumer.committed(TopicPartition(topic, p)) for p in partitions]
        return sum(o or 0 for o in offsets)
    finally:
        await consumer.stop()


async def test_refusing_clickhouse_keeps_the_batch_uncommitted_and_retries(
    kafka_settings: KafkaSettings,
    chdb_url: str,
    ch: Client,
) -> None:
    facts = mixed_facts("p-down", 40)
    ch.command("RENAME TABLE hookstream.replies_1m TO hookstream.replies_1m_away")
    try:
        await produce(kafka_settings, encoded(facts))
        async with running_sink(sink_settings(kafka_settings, chdb_url), "down") as sink:
            await poll(
                lambda: metric(sink, "hookstream_sink_write_failures_total") >= 3,
                what="failed writes",
            )
            assert await committed(kafka_settings, "down") == 0
            assert (
                scalar(ch, "SELECT count() FROM hookstream.replies WHERE page_id = 'p-down'") == 0
            )
            ch.command("RENAME TABLE hookstream.replies_1m_away TO hookstream.replies_1m")
            await poll(lambda: counts(ch, "p-down") == EXPECTED_40, what="written after all")

            async def all_committed() -> bool:
                return await committed(kafka_settings, "down") == len(facts)

            await poll(all_committed, what="all committed")
    finally:
        if scalar(ch, "EXISTS TABLE hookstream.replies_1m_away"):
            ch.command("RENAME TABLE hookstream.replies_1m_away TO hookstream.replies_1m")
