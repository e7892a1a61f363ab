"""Helpers for the analytics sink tests (real broker, real chDB); the `chdb_url` and `ch`
fixtures are in tests/integration/conftest.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from hookstream.runtime.clickhouse import parse_clickhouse_url
from hookstream.runtime.kafka import new_producer
from hookstream.runtime.metrics import new_registry
from hookstream.runtime.settings import KafkaSettings, Settings, SinkSettings
from schemas.analytics import (
    DeadLettered,
    DeliveryResult,
    Fact,
    MessageReceived,
    ReplyPlanned,
    encode_fact,
)
from sinks.retry import Backoff
from sinks.service import AnalyticsSink

FAST_GROUP = {
    "request_timeout_ms": 30_000,
    "session_timeout_ms": 3000,
    "heartbeat_interval_ms": 1000,
}
BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a minute boundary


def sink_settings(kafka: KafkaSettings, clickhouse_url: str, **overrides: Any) -> Settings:
    sink = replace(
        SinkSettings(clickhouse_url=clickhouse_url, batch_age_s=0.2, ttl_days=3650), **overrides
    )
    return Settings(kafka=kafka, sink=sink)


@contextlib.asynccontextmanager
async def running_sink(
    settings: Settings,
    group_id: str = "",
) -> AsyncIterator[AnalyticsSink]:
    sink = AnalyticsSink(
        settings,
        new_registry(),
        group_id=group_id,
        backoff=Backoff(0.05, 0.5),
        consumer_options=FAST_GROUP,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    try:
        await poll(lambda: sink.ready() or task.done(), what="sink ready")
        if task.done():
            task.result()
        yield sink
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def poll(
    check: Callable[[], bool | Awaitable[bool]], timeout_s: float = 60.0, what: str = "condition"
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def metric(sink: AnalyticsSink, name: str) -> float:
    return sink.registry.get_sample_value(name) or 0.0


async def produce(
    kafka: KafkaSettings, values: list[tuple[bytes | None, bytes]], topic: str = "analytics"
) -> None:
    producer = new_producer(kafka)
    await producer.start()
    try:
        sends = [await producer.send(kafka.topic(topic), value=v, key=k) for k, v in values]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


def encoded(facts: Sequence[Fact]) -> list[tuple[bytes | None, bytes]]:
    return [(f.conversation_id.encode(), encode_fact(f)) for f in facts]


def scalar(client: Client, sql: str) -> int:
    return int(client.query(sql).result_rows[0][0])


def chdb_path(url: str) -> Path:
    return Path(parse_clickhouse_url(url).path)


# --- facts -------------------------------------------------------------------------------


def message(
    i: int,
    page: str = "1001",
    kind: str = "message",
    at_ms: int = BASE_MS,
    processing_ms: int = 100,
    text_length: int = 12,
) -> MessageReceived:
    return MessageReceived(
        fact_id=f"msg:e{page}-{i}",
        event_id=f"e{page}-{i}",
        event_time_ms=at_ms - 50,
        received_at_ms=at_ms,
        processed_at_ms=at_ms + processing_ms,
        platform="messenger",
        page_id=page,
        conversation_id=f"{page}:u{i % 7}",
        user_id=f"u{i % 7}",
        direction="in",
        kind=kind,
        text_length=text_length,
        attachment_types=["image"] if i % 2 else [],
    )


def reply(i: int, page: str = "1001", at_ms: int = BASE_MS, plan_ms: int = 30) -> ReplyPlanned:
    return ReplyPlanned(
        fact_id=f"plan:c{page}-{i}",
        command_id=f"c{page}-{i}",
        event_id=f"e{page}-{i}",
        page_id=page,
        conversation_id=f"{page}:u{i % 7}",
        responder="rules",
        rule_id="pricing",
        planned_at_ms=at_ms + plan_ms,
        event_received_at_ms=at_ms,
    )


def delivery(
    i: int,
    page: str = "1001",
    at_ms: int = BASE_MS,
    e2e_ms: int = 400,
    status: str = "delivered",
    code: int = 0,
    subcode: int = 0,
) -> DeliveryResult:
    return DeliveryResult(
        fact_id=f"dlv:c{page}-{i}:{status}:1",
        command_id=f"c{page}-{i}",
        page_id=page,
        conversation_id=f"{page}:u{i % 7}",
        status=status,
        attempts=1,
        created_at_ms=at_ms + 30,
        finished_at_ms=at_ms + e2e_ms,
        latency_ms=e2e_ms - 30,
        error_code=code,
        error_subcode=subcode,
        event_received_at_ms=at_ms,
        message_id=f"m{i}" if status == "delivered" else "",
    )


def dead(i: int, page: str = "1001", at_ms: int = BASE_MS) -> DeadLettered:
    return DeadLettered(
        fact_id=f"dlq:inbound:0:{i}",
        dead_letter_id=f"inbound:0:{i}",
        source_topic="inbound",
        service="processors",
        reason="invalid_envelope",
        page_id=page,
        failed_at_ms=at_ms,
    )
