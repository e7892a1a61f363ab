"""Processors on the embedded broker: order, dedupe, poison records, fed through a real ingress."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hookstream.runtime.settings import KafkaSettings
from schemas.analytics import decode_fact
from schemas.commands import command_id_for, decode_command
from schemas.dlq import decode_dead_letter
from tests.support.processors_rig import (
    PAGE,
    Service,
    chunks,
    collect,
    post_webhooks,
    produce,
    service_env,
    text_event,
    webhook_body,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def services(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> AsyncIterator[tuple[Service, Service]]:
    env = service_env(kafka_settings, tmp_path)
    ingress = Service("ingress", env, tmp_path).start()
    worker = Service("processors", env, tmp_path).start()
    try:
        await ingress.ready()
        await worker.ready()
        yield ingress, worker
    finally:
        worker.stop()
        ingress.stop()


def by_conversation(records: list) -> dict[str, list[str]]:  # type: ignore[type-arg]
    out: dict[str, list[str]] = {}
    for record in records:
        command = decode_command(record.value)
        assert record.key == command.conversation_id.encode()
        out.setdefault(command.conversation_id, []).append(command.cause_event_id)
    return out


async def test_each_conversation_is_answered_in_order_across_many_interleaved_posts(
    kafka_settings: KafkaSettings,
    services: tuple[Service, Service],
) -> None:
    ingress, _ = services
    users, per_user = [f"u{i}" for i in range(8)], 25
    # Round-robin over users: every POST carries events of many conversations.
    events = [text_event(user, seq) for seq in range(per_user) for user in users]
    await post_webhooks(ingress.url, [webhook_body(c) for c in chunks(events, 7)])
    total = len(users) * per_user
    records = await collect(kafka_settings, "outbound", lambda r: len(r) >= total)
    conversations = by_conversation(records)
    assert set(conversations) == {f"{PAGE}:{user}" for user in users}
    for user in users:
        expected = [f"message:m-{user}-{seq}" for seq in range(per_user)]
        assert conversations[f"{PAGE}:{user}"] == expected
    facts = [
        decode_fact(r.value)
        for r in await collect(kafka_settings, "analytics", lambda r: len(r) >= 2 * total)
    ]
    assert sum(f.fact == "message_received" for f in facts) == total
    assert sum(f.fact == "reply_planned" for f in facts) == total


async def test_redelivered_events_produce_one_command_each(
    kafka_settings: KafkaSettings,
    services: tuple[Service, Service],
) -> None:
    ingress, _ = services
    events = [text_event(f"d{i % 3}", i) for i in range(12)]
    body = webhook_body(events + events[:4])  # duplicates inside one POST too
    await post_webhooks(ingress.url, [body, body, webhook_body(events[5:9])])
    marker = text_event("d0", 99)  # sent last: once its command is out, the rest is too
    await post_webhooks(ingress.url, [webhook_body([marker])])
    marker_id = command_id_for("message:m-d0-99", 0)
    records = await collect(
        kafka_settings,
        "outbound",
        lambda r: any(decode_command(x.value).command_id == marker_id for x in r),
    )
    ids = [decode_command(r.value).command_id for r in records]
    assert len(ids) == len(set(ids)) == 13
    assert set(ids) == {command_id_for(f"message:m-d{i % 3}-{i}", 0) for i in range(12)} | {
        marker_id
    }


async def test_a_poison_record_goes_to_the_dlq_and_the_next_records_are_processed(
    kafka_settings: KafkaSettings,
    services: tuple[Service, Service],
) -> None:
    key = f"{PAGE}:p1".encode()
    from ingress.splitter import split  # the ingress's own wrapping, no HTTP needed here

    good = [
        r.value
        for r in split(
            {
                "object": "page",
                "entry": [{"id": PAGE, "messaging": [text_event("p1", i) for i in range(3)]}],
            },
            1,
            "r",
        )
    ]
    unknown = [
        r.value
        for r in split(
            {
                "object": "page",
                "entry": [{"id": PAGE, "messaging": [{"sender": {"id": "p1"}, "brand_new": {}}]}],
            },
            1,
            "r",
        )
    ]
    await produce(
        kafka_settings,
        [
            (key, good[0]),
            (key, b"\x00not an envelope"),
            (key, unknown[0]),
            (key, good[1]),
            (key, good[2]),
        ],
    )
    letters = [
        decode_dead_letter(r.value)
        for r in await collect(kafka_settings, "dlq", lambda r: len(r) >= 2)
    ]
    assert sorted(d.reason for d in letters) == ["invalid_envelope", "unknown_shape"]
    assert all(
        d.source_topic == kafka_settings.topic("inbound") and d.key == key.decode() for d in letters
    )
    assert b"\x00not an envelope" in [d.original_bytes() for d in letters]
    records = await collect(kafka_settings, "outbound", lambda r: len(r) >= 3)
    assert by_conversation(records)[f"{PAGE}:p1"] == [f"message:m-p1-{i}" for i in range(3)]
    _, worker = services
    dead = 'hookstream_processor_dead_letters_total{reason="invalid_envelope"}'
    assert await worker.metric(dead) == 1.0


async def test_rules_reload_when_the_pages_file_changes(
    kafka_settings: KafkaSettings,
    services: tuple[Service, Service],
    tmp_path: Path,
) -> None:
    ingress, worker = services
    await post_webhooks(ingress.url, [webhook_body([text_event("r1", 0, text="hello")])])
    [first] = await collect(kafka_settings, "outbound", lambda r: len(r) >= 1, settle_s=0)
    assert decode_command(first.value).message == {"text": "Thanks!"}
    pages = tmp_path / "pages.yaml"
    pages.write_text(pages.read_text().replace("Thanks!", "Updated!"))
    stat = pages.stat()
    os.utime(pages, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    reloaded = 'hookstream_processor_pages_reloads_total{result="ok"}'
    deadline = asyncio.get_running_loop().time() + 30
    while await worker.metric(reloaded) != 1.0:
        assert asyncio.get_running_loop().time() < deadline, "pages file not reloaded"
        await asyncio.sleep(0.1)
    await post_webhooks(ingress.url, [webhook_body([text_event("r1", 1, text="hello")])])
    records = await collect(kafka_settings, "outbound", lambda r: len(r) >= 2, settle_s=0)
    assert decode_command(records[1].value).message == {"text": "Updated!"}
