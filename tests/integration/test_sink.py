"""The analytics sink against the real embedded broker and the real chDB engine."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

import pytest
from aiokafka import TopicPartition
from clickhouse_connect.driver.client import Client

from hookstream.runtime.consumer import Consumed as Source
from hookstream.runtime.kafka import new_consumer
from hookstream.runtime.metrics import new_registry
from hookstream.runtime.settings import KafkaSettings
from schemas.analytics import decode_fact
from schemas.clickhouse import TABLE_COLUMNS, apply_migrations, load_migrations
from schemas.dlq import decode_dead_letter
from sinks.batch import Batch
from sinks.decode import add_record
from sinks.errors import WriteFailed
from sinks.retry import Backoff
from sinks.rows import row_for
from sinks.service import AnalyticsSink
from sinks.writer import ClickHouseWriter, Fresh, ledger_key
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


def handled(sink: AnalyticsSink) -> float:
    """Rows the sink inserted or found stored."""
    return metric(sink, "hookstream_sink_rows_inserted_total") + metric(
        sink, "hookstream_sink_rows_already_stored_total"
    )


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
        add_record(crashed, _source(kafka_settings.topic("analytics"), record), 0.0)
    ClickHouseWriter(ch, "hookstream").write(crashed)
    async with running_sink(sink_settings(kafka_settings, chdb_url)) as sink:
        await poll(lambda: handled(sink) >= len(facts), what="restart consumed")
        assert metric(sink, "hookstream_sink_rows_already_stored_total") == len(records) // 2
    assert counts(ch, "p-restart") == EXPECTED_40


def ledgered(client: Client, page: str, ids: list[str], db: str = "hookstream") -> int:
    listed = ", ".join(f"'{ledger_key(page, i)}'" for i in ids)
    return scalar(client, f"SELECT count() FROM {db}.stored_facts WHERE key IN ({listed})")  # noqa: S608


ROLLUP_VS_FACTS = {
    "messages": ("messages_1m", "events"),
    "replies": ("replies_1m", "replies"),
    "deliveries": ("deliveries_1m", "outcomes"),
    "dead_letters": ("dead_letters_1m", "dead_letters"),
}


def rollups_disagreeing(client: Client, page: str, db: str = "hookstream") -> list[str]:
    """(table, minute)s whose rollup count differs from its distinct facts."""
    out = []
    for table, (rollup, column) in ROLLUP_VS_FACTS.items():
        facts = client.query(
            f"SELECT toStartOfMinute(ts) AS m, uniqExact(fact_id) FROM {db}.{table} "  # noqa: S608
            "WHERE page_id = %(p)s GROUP BY m ORDER BY m",
            parameters={"p": page},
        ).result_rows
        rolled = client.query(
            f"SELECT minute, sum({column}) FROM {db}.{rollup} WHERE page_id = %(p)s "  # noqa: S608
            "GROUP BY minute ORDER BY minute",
            parameters={"p": page},
        ).result_rows
        if facts != rolled:
            out.append(f"{table}: facts {facts} rollup {rolled}")
    return out


async def test_a_kill_in_the_middle_of_a_batch_insert_counts_every_fact_once(
    kafka_settings: KafkaSettings,
    chdb_url: str,
    ch: Client,
) -> None:
    """What a sink killed in the middle of writing a batch leaves: the first tables' rows
    stored, the rest not, and the ledger entries of the stored ones cut off (the ledger is
    filled in a step after the facts). Restarted on the same source offsets, the sink counts
    every fact once in every table and every rollup. (With 002's rollups, filled by views in a
    step after the facts, the kill also left facts stored and not rolled up, and the restarted
    sink dropped them as stored: `replies_1m` 6 short of `replies` in a fault test.)"""
    facts = mixed_facts("p-kill", 40)
    await produce(kafka_settings, encoded(facts))
    records = await read_topic(kafka_settings, "analytics", expected=len(facts))
    killed = Batch()
    for record in records:
        add_record(killed, _source(kafka_settings.topic("analytics"), record), 0.0)
    stored = ("messages", "replies")
    for table in stored:
        rows = killed.tables[table].values
        ch.insert(f"hookstream.{table}", rows, column_names=list(TABLE_COLUMNS[table]))
    ids = [v[0] for table in stored for v in killed.tables[table].values]
    listed = ", ".join(f"'{ledger_key('p-kill', i)}'" for i in ids)
    ch.command(f"DELETE FROM hookstream.stored_facts WHERE key IN ({listed})")  # noqa: S608
    assert ledgered(ch, "p-kill", ids) == 0
    left = counts(ch, "p-kill")
    assert (left["messages"], left["replies"], left["deliveries"]) == (40, 20, 0)
    assert rollups_disagreeing(ch, "p-kill") == []  # a fact's rollup is written with it

    async with running_sink(sink_settings(kafka_settings, chdb_url), group_id="restarted") as sink:
        await poll(lambda: handled(sink) >= len(facts), what="restart consumed")
        assert metric(sink, "hookstream_sink_rows_already_stored_total") == len(ids)
    assert counts(ch, "p-kill") == EXPECTED_40
    assert rollups_disagreeing(ch, "p-kill") == []
    assert ledgered(ch, "p-kill", [f.fact_id for f in facts]) == len(facts)


def test_a_fact_stored_again_with_another_time_is_found_in_the_ledger(ch: Client) -> None:
    """A sender that re-makes a call after a kill emits the same delivery fact with a later
    finish time: the ledger knows the fact id, whatever its time."""
    first, again = Batch(), Batch()
    fact = delivery(1, "p-later")
    first.add_row(row_for(fact), Source("later.analytics", 0, 0, None, None), 0.0)
    later = replace(fact, finished_at_ms=fact.finished_at_ms + 90_000)
    again.add_row(row_for(later), Source("later.analytics", 0, 1, None, None), 0.0)
    writer = ClickHouseWriter(ch, "hookstream")
    assert writer.write(first).inserted == 1
    assert (writer.write(again).inserted, writer.write(again).skipped_existing) == (0, 1)
    assert (counts(ch, "p-later")["deliveries"], counts(ch, "p-later")["outcomes_1m"]) == (1, 1)


def test_the_ledger_key_is_the_one_clickhouse_builds_for_any_page_and_id(ch: Client) -> None:
    batch = Batch()
    odd = [message(1, "pä\nge"), replace(message(2, "1:"), fact_id="msg:\n'\\x")]
    for offset, fact in enumerate(odd):
        batch.add_row(row_for(fact), Source("keys.analytics", 0, offset, None, None), 0.0)
    writer = ClickHouseWriter(ch, "hookstream")
    assert writer.write(batch).inserted == 2
    checked = writer.check(batch)
    assert checked.stored["messages"] == {f.fact_id for f in odd}
    assert not checked.unledgered  # found in the ledger, under the key computed here


def test_an_install_on_the_002_schema_upgrades_keeping_its_counts(ch: Client) -> None:
    db = "upgraded"
    old = [m for m in load_migrations(db, 3650) if m.version <= 2]
    ch.command(f"CREATE DATABASE IF NOT EXISTS {db}")
    ch.command(
        f"CREATE TABLE {db}.schema_migrations (version UInt32, name String,"
        " applied_at DateTime DEFAULT now()) ENGINE = ReplacingMergeTree ORDER BY version"
    )
    for migration in old:
        for statement in migration.statements:
            ch.command(statement)
        ch.insert(
            f"{db}.schema_migrations",
            [(m.version, m.name) for m in [migration]],
            column_names=["version", "name"],
        )
    facts = mixed_facts("p-old", 40)
    batch = Batch()
    for offset, fact in enumerate(facts):
        batch.add_row(row_for(fact), Source("old.analytics", 0, offset, None, None), 0.0)
    for table, rows in batch.tables.items():
        names = list(TABLE_COLUMNS[table])
        had = {r[0] for r in ch.query(f"DESCRIBE TABLE {db}.{table}").result_rows}
        keep = [i for i, name in enumerate(names) if name in had]  # 002 lacks later columns
        old_rows = [tuple(v[i] for i in keep) for v in rows.values]
        ch.insert(f"{db}.{table}", old_rows, column_names=[names[i] for i in keep])
    replies = f"SELECT sum(replies) FROM {db}.replies_1m WHERE page_id = 'p-old'"  # noqa: S608
    assert scalar(ch, replies) == 20
    assert apply_migrations(ch, db, 3650) == [3, 4, 5]
    assert rollups_disagreeing(ch, "p-old", db) == []
    assert scalar(ch, replies) == 20
    assert ledgered(ch, "p-old", [f.fact_id for f in facts], db) == len(facts)
    result = ClickHouseWriter(ch, db).write(batch)
    assert (result.inserted, result.skipped_existing) == (0, len(facts))
    assert apply_migrations(ch, db, 3650) == []
    ch.command(f"DROP DATABASE {db} SYNC")


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
    checked = writer.check(second)  # asked while `first` is not stored yet
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


def _source(topic: str, record: Any) -> Source:
    return Source(topic, record.partition, record.offset, record.key, record.value)


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
    ch.command("RENAME TABLE hookstream.replies TO hookstream.replies_away")
    try:
        await produce(kafka_settings, encoded(facts))
        async with running_sink(sink_settings(kafka_settings, chdb_url), "down") as sink:
            await poll(
                lambda: metric(sink, "hookstream_sink_write_failures_total") >= 3,
                what="failed writes",
            )
            assert await committed(kafka_settings, "down") == 0
            assert (
                scalar(ch, "SELECT count() FROM hookstream.replies_away WHERE page_id = 'p-down'")
                == 0
            )
            ch.command("RENAME TABLE hookstream.replies_away TO hookstream.replies")
            await poll(lambda: counts(ch, "p-down") == EXPECTED_40, what="written after all")

            async def all_committed() -> bool:
                return await committed(kafka_settings, "down") == len(facts)

            await poll(all_committed, what="all committed")
    finally:
        if scalar(ch, "EXISTS TABLE hookstream.replies_away"):
            ch.command("RENAME TABLE hookstream.replies_away TO hookstream.replies")


def test_fresh_records_are_checked_in_the_ledger_and_suspect_ones_in_the_tables_too(
    ch: Client,
) -> None:
    """`Fresh`: a fact produced twice upstream (a second record, past the partition's end at
    assignment) is found in the ledger; a fact stored without its ledger entry (an insert cut
    off by a kill) is found by a suspect record (re-read from before that end), as without
    `Fresh`, and a failed write here makes its records suspect."""
    facts = [message(i, "p-fresh") for i in range(4)]
    first = Batch()
    for offset, fact in enumerate(facts[:2]):
        first.add_row(row_for(fact), Source("fresh.analytics", 0, offset, None, None), 0.0)
    assert ClickHouseWriter(ch, "hookstream").write(first).inserted == 2
    cut = [row_for(f).values for f in facts[2:]]  # stored, their ledger entries cut off
    ch.insert("hookstream.messages", cut, column_names=list(TABLE_COLUMNS["messages"]))
    listed = ", ".join(f"'{ledger_key('p-fresh', v[0])}'" for v in cut)
    ch.command(f"DELETE FROM hookstream.stored_facts WHERE key IN ({listed})")  # noqa: S608
    fresh = Fresh()
    fresh.assigned({("fresh.analytics", 0): 10})
    writer = ClickHouseWriter(ch, "hookstream", fresh=fresh)
    again = Batch()  # the first two again (upstream duplicates, fresh), the cut two re-read
    for offset, fact in [(10, facts[0]), (11, facts[1]), (2, facts[2]), (3, facts[3])]:
        again.add_row(row_for(fact), Source("fresh.analytics", 0, offset, None, None), 0.0)
    assert writer.check(again).stored["messages"] == {f.fact_id for f in facts}
    result = writer.write(again)
    assert (result.inserted, result.skipped_existing) == (0, 4)
    assert counts(ch, "p-fresh")["messages_rows"] == 4

    failing = ClickHouseWriter(ch, "no_such_database", fresh=fresh)
    later = Batch()
    later.add_row(row_for(message(9, "p-fresh")), Source("fresh.analytics", 0, 20, None, None), 0.0)
    with pytest.raises(WriteFailed):
        failing.write(later)
    assert fresh.suspect(Source("fresh.analytics", 0, 20, None, None))
    assert not fresh.suspect(Source("fresh.analytics", 0, 21, None, None))
