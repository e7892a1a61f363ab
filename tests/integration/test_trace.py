"""`hookstream trace`: facts written through the real sink into chDB, read back through the
sink's read-only endpoint while it holds the engine, and directly once it has stopped."""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import replace

import pytest
from clickhouse_connect.driver.client import Client
from starlette.applications import Starlette

from hookstream.cli import trace as trace_cli
from hookstream.ops.analytics_source import read_analytics
from hookstream.ops.trace import found, render_timeline, timeline
from hookstream.runtime.clickhouse import parse_clickhouse_url
from hookstream.runtime.settings import KafkaSettings
from schemas.analytics import DeadLettered, DuplicateDropped
from sinks.api import trace_route
from sinks.trace import TraceQuery, fetch_trace
from tests.support.http import serve
from tests.support.sink_rig import (
    delivery,
    encoded,
    message,
    poll,
    produce,
    reply,
    running_sink,
    scalar,
    sink_settings,
)

pytestmark = pytest.mark.integration

NOW_MS = int(time.time() * 1000) - 3_600_000  # an hour ago: inside the default 7 days


def dropped(i: int, page: str, offset: int, at_ms: int) -> DuplicateDropped:
    """A copy of message i that Meta sent again, dropped by the processors at `offset`."""
    return DuplicateDropped(
        fact_id=f"dup:e{page}-{i}:hs.inbound:0:{offset}",
        event_id=f"e{page}-{i}",
        page_id=page,
        conversation_id=f"{page}:u{i % 7}",
        platform="messenger",
        kind="message",
        received_at_ms=at_ms,
        first_received_at_ms=NOW_MS,
        processed_at_ms=at_ms + 4,
        request_id=f"req{offset}",
        source_topic="hs.inbound",
        source_partition=0,
        source_offset=offset,
    )


def story(page: str) -> list:  # type: ignore[type-arg]
    """Message 3 of `page`: received, planned, retried once (Meta error 2), then delivered;
    Meta sent it again once (the processors' fact of that copy written twice, as after a
    restart before their commit); one record of its conversation dead-lettered; message 10
    (same user) got no reply: no rule matched."""
    dead = DeadLettered(
        fact_id=f"dlq:{page}:inbound:0:9",
        dead_letter_id=f"inbound:0:9-{page}",
        source_topic="inbound",
        service="processors",
        reason="invalid_event",
        page_id=page,
        failed_at_ms=NOW_MS + 900,
        conversation_id=f"{page}:u3",
    )
    retried = replace(
        delivery(3, page, NOW_MS, e2e_ms=200, status="retried", code=2),
        fact_id=f"dlv:c{page}-3:retried:1",
    )
    delivered = replace(delivery(3, page, NOW_MS, e2e_ms=600), attempts=2)
    return [
        message(3, page, at_ms=NOW_MS, processing_ms=20),
        reply(3, page, NOW_MS),
        retried,
        delivered,
        dead,
        replace(message(10, page, at_ms=NOW_MS + 2000), no_reply="no_rule_matched"),
        dropped(3, page, 41, NOW_MS + 30_000),
        dropped(3, page, 41, NOW_MS + 30_000),
    ]


def query(text: str) -> TraceQuery:
    now = int(time.time() * 1000)
    return TraceQuery.parse(text, now - 7 * 86_400_000, now + 60_000)


def params(q: TraceQuery) -> dict[str, str | int]:
    return {"id": q.id, "since_ms": q.since_ms, "until_ms": q.until_ms}


async def test_trace_reads_through_the_sink_then_directly(
    kafka_settings: KafkaSettings, chdb_url: str, ch: Client
) -> None:
    page = "p-trace"
    await produce(kafka_settings, encoded(story(page)))
    target = parse_clickhouse_url(chdb_url)
    q = query(f"e{page}-3")
    async with running_sink(sink_settings(kafka_settings, chdb_url)) as sink:
        sql = "SELECT count() FROM hookstream.deliveries WHERE page_id = 'p-trace'"
        await poll(lambda: scalar(ch, sql) == 2, what="facts stored")
        dups = "SELECT count() FROM hookstream.duplicates WHERE page_id = 'p-trace'"
        await poll(lambda: scalar(ch, dups) >= 1, what="the dropped copy stored")
        app = Starlette(routes=[trace_route(sink.with_client, target.database)])
        async with serve(app) as url:
            via_sink = await asyncio.to_thread(  # the CLI's blocking call, off this loop
                read_analytics, target, url, "/api/trace", params(q), lambda c: {"asked": 1}
            )
    assert "asked" not in via_sink  # the sink answered, the engine was not opened here
    direct = fetch_trace(ch, target.database, q)
    assert via_sink == direct
    assert [m["event_id"] for m in direct["messages"]] == [f"e{page}-3"]
    assert [d["status"] for d in direct["deliveries"]] == ["retried", "delivered"]
    assert [d["reason"] for d in direct["dead_letters"]] == ["invalid_event"]
    # the copy's fact, produced twice, is stored once (and once in the ledger)
    assert scalar(ch, dups) == 1
    ledger = "SELECT count() FROM hookstream.stored_facts WHERE key LIKE '%dup:ep-trace-3:%'"
    assert scalar(ch, ledger) == 1
    assert [d["source_offset"] for d in direct["duplicates"]] == [41]
    text = render_timeline(direct)
    assert [step.what for step in timeline(direct)] == [
        "received",
        "processed",
        "planned",
        "delivery",
        "delivery",
        "dead_letter",
        "redelivered",
    ]
    assert "Meta error 2/0" in text and "webhook -> delivered 600 ms" in text
    assert "(copy 2, 30.0 s after the first): dropped as a duplicate" in text
    assert f"note: e{page}-3: Meta sent it 2 times" in text


async def test_trace_by_command_and_conversation(
    kafka_settings: KafkaSettings, chdb_url: str, ch: Client
) -> None:
    page = "p-trace2"
    await produce(kafka_settings, encoded(story(page)))
    async with running_sink(sink_settings(kafka_settings, chdb_url)):
        sql = "SELECT count() FROM hookstream.messages WHERE page_id = 'p-trace2'"
        await poll(lambda: scalar(ch, sql) == 2, what="facts stored")
    by_command = fetch_trace(ch, "hookstream", query(f"c{page}-3"))
    assert [m["event_id"] for m in by_command["messages"]] == [f"e{page}-3"]
    assert len(by_command["deliveries"]) == 2
    conversation = fetch_trace(ch, "hookstream", query(f"{page}:u3"))
    assert [m["event_id"] for m in conversation["messages"]] == [f"e{page}-3", f"e{page}-10"]
    text = render_timeline(conversation)
    assert f"e{page}-10: no reply planned (no rule matched and the page has no fallback)" in text
    assert [d["event_id"] for d in conversation["duplicates"]] == [f"e{page}-3"]
    assert not found(fetch_trace(ch, "hookstream", query("m_never_seen")))


def cli_args(text: str, sink_url: str) -> argparse.Namespace:
    return argparse.Namespace(id=text, days=7, json=False, sink_url=sink_url)


async def test_trace_cli_answers_unknown_and_malformed_ids(
    kafka_settings: KafkaSettings,
    chdb_url: str,
    ch: Client,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = sink_settings(kafka_settings, chdb_url)
    nobody = "http://127.0.0.1:9"  # no sink: the engine is read directly
    assert trace_cli.run(cli_args("m_nothing_here", nobody), settings) == 1
    assert "no such message in the last 7 days: m_nothing_here" in capsys.readouterr().out
    assert trace_cli.run(cli_args("x" * 400, nobody), settings) == 2
    err = capsys.readouterr().err
    assert "a Meta message id (mid), an event id, a command id" in err and "Traceback" not in err
