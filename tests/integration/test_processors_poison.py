"""Issue 11 through a real broker and real workers: the bodies that stopped the processors for
good, messages without a user, and a record that kills the worker every time it is processed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hookstream.runtime.settings import KafkaSettings
from ingress.splitter import split
from schemas.commands import decode_command
from schemas.dlq import decode_dead_letter
from tests.support.processors_rig import (
    CRASH_TEXT,
    CRASHING_WORKER,
    PAGE,
    Service,
    collect,
    produce,
    service_env,
    text_event,
)

pytestmark = pytest.mark.integration
KEY = f"{PAGE}:p1".encode()  # every record on one key: one partition, in this order


def envelope(event: dict[str, Any]) -> bytes:
    [record] = split({"object": "page", "entry": [{"id": PAGE, "messaging": [event]}]}, 1, "r")
    return record.value


def mark(kind: str, watermark: object) -> bytes:
    return envelope(
        {"sender": {"id": "p1"}, "recipient": {"id": PAGE}, kind: {"watermark": watermark}}
    )


def replies(records: list[Any]) -> list[tuple[str, str]]:
    commands = [decode_command(r.value) for r in records]
    return [(c.recipient_id, c.cause_event_id) for c in commands]


async def test_the_bodies_that_stopped_the_processors_are_survived_in_one_partition(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    nobody = envelope({"recipient": {"id": PAGE}, "message": {"mid": "m-nobody", "text": "price"}})
    underscore = envelope(
        {"sender": {"id": "_"}, "recipient": {"id": PAGE}, "message": {"mid": "m-_", "text": "hi"}}
    )
    worker = Service("processors", service_env(kafka_settings, tmp_path), tmp_path).start()
    try:
        await worker.ready()
        await produce(
            kafka_settings,
            [
                (KEY, envelope(text_event("p1", 0))),
                (KEY, mark("read", 1e300)),  # the body: TypeError in state.encode()
                (KEY, mark("delivery", "1e25")),
                (KEY, nobody),
                (KEY, underscore),
                (KEY, b"\x00not an envelope"),
                (KEY, envelope(text_event("p1", 1))),
            ],
        )
        outbound = await collect(kafka_settings, "outbound", lambda r: len(r) >= 2)
        letters = [
            decode_dead_letter(r.value)
            for r in await collect(kafka_settings, "dlq", lambda r: len(r) >= 3)
        ]
    finally:
        worker.stop()
    assert replies(outbound) == [("p1", "message:m-p1-0"), ("p1", "message:m-p1-1")]
    assert sorted(d.reason for d in letters) == ["invalid_envelope", "no_user", "no_user"]
    assert {d.original_bytes() for d in letters if d.reason == "no_user"} == {nobody, underscore}


async def test_a_record_that_kills_the_worker_twice_is_quarantined_on_the_third_start(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    env = service_env(kafka_settings, tmp_path)
    worker = Service("processors", env, tmp_path, launcher=("-c", CRASHING_WORKER))
    poison = envelope(text_event("p1", 1, text=CRASH_TEXT))
    worker.start()
    try:
        await worker.ready()
        await produce(
            kafka_settings,
            [
                (KEY, envelope(text_event("p1", 0))),
                (KEY, poison),
                (KEY, envelope(text_event("p1", 2))),
            ],
        )
        assert await worker.exited() == 70  # first crash: the batch it was in
        assert await worker.start().exited() == 70  # second: that very record, one at a time
        worker.start()  # third start: skipped
        outbound = await collect(
            kafka_settings,
            "outbound",
            lambda r: {"message:m-p1-0", "message:m-p1-2"} <= {c for _, c in replies(r)},
        )
        [letter] = [
            decode_dead_letter(r.value)
            for r in await collect(kafka_settings, "dlq", lambda r: len(r) >= 1)
        ]
        await worker.ready()  # still serving
    finally:
        worker.stop()
    assert "message:m-p1-1" not in {c for _, c in replies(outbound)}
    assert letter.reason == "quarantined" and letter.original_bytes() == poison
    assert letter.source_topic == kafka_settings.topic("inbound")
