"""A processors worker on RocksDB keeps its conversations' state across a restart on the same
state dir: the state is in its local store (with the changelog offset it reflects, so a
restart reads only the changelog's tail), and a redelivered event is still a duplicate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hookstream.runtime.settings import KafkaSettings
from ingress.splitter import split
from schemas.commands import command_id_for, decode_command
from tests.support.processors_rig import PAGE, Service, collect, produce, service_env, text_event

pytestmark = pytest.mark.integration
rocksdict = pytest.importorskip("rocksdict")
OFFSET_KEY = b"__faust\0offset__"


def records(events: list[dict[str, object]]) -> list[tuple[bytes, bytes]]:
    body = {"object": "page", "entry": [{"id": PAGE, "messaging": events}]}
    return [(r.key, r.value) for r in split(body, 1, "r")]


def stored(table_dir: Path, key: bytes) -> tuple[bytes | None, list[bytes]]:
    """The key's stored state in any partition's database, and every persisted offset."""
    found, offsets = None, []
    for path in sorted(table_dir.glob("conversations-*.db")):
        options = rocksdict.Options(raw_mode=True)
        db = rocksdict.Rdict(str(path), options=options)
        try:
            found = found or db.get(key)
            offset = db.get(OFFSET_KEY)
            if offset is not None:
                offsets.append(offset)
        finally:
            db.close()
    return found, offsets


async def outbound_with(kafka: KafkaSettings, command_id: str, settle_s: float) -> list[Any]:
    return await collect(
        kafka,
        "outbound",
        lambda r: command_id in {decode_command(x.value).command_id for x in r},
        settle_s=settle_s,
    )


async def test_a_restarted_worker_on_rocksdb_keeps_the_dedupe_of_a_conversation(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    env = {**service_env(kafka_settings, tmp_path), "HOOKSTREAM_PROCESSORS_STORE": "rocksdb"}
    first, again = text_event("u1", 0), text_event("u1", 1)
    first_id, again_id = (command_id_for(f"message:m-u1-{n}", 0) for n in (0, 1))
    worker = Service("processors", env, tmp_path).start()
    try:
        await worker.ready()
        await produce(kafka_settings, records([first]))
        await outbound_with(kafka_settings, first_id, settle_s=1.0)
    finally:
        worker.stop()
    group = kafka_settings.topic("processors")
    table_dir = tmp_path / "state" / "faust" / group / "member-0"
    state, offsets = stored(table_dir, f"{PAGE}:u1".encode())
    assert state is not None and b"message:m-u1-0" in state  # on disk, not only in a changelog
    assert offsets  # the changelog offset it reflects: a restart reads only what follows

    worker.start()
    try:
        await worker.ready()
        await produce(kafka_settings, records([first, again]))  # a redelivery, then a new one
        outbound = await outbound_with(kafka_settings, again_id, settle_s=2.0)
    finally:
        worker.stop()
    ids = [decode_command(r.value).command_id for r in outbound]
    assert ids.count(first_id) == 1  # the redelivered event was a duplicate after the restart
    assert ids.count(again_id) == 1


async def test_an_idle_conversation_expires_with_a_tombstone_on_the_changelog(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    env = {
        **service_env(kafka_settings, tmp_path),
        "HOOKSTREAM_PROCESSORS_STORE": "rocksdb",
        "HOOKSTREAM_PROCESSORS_CONVERSATION_TTL_S": "1",
    }
    key = f"{PAGE}:u2".encode()
    worker = Service("processors", env, tmp_path).start()
    try:
        await worker.ready()
        await produce(kafka_settings, records([text_event("u2", 0)]))
        writes = await collect(
            kafka_settings,
            "processors-conversations-changelog",  # the table's, "<group>-<table>-changelog"
            lambda r: any(x.key == key and x.value is None for x in r),
            settle_s=0,
        )
    finally:
        worker.stop()
    mine = [x.value for x in writes if x.key == key]
    assert mine[0] is not None and mine[-1] is None  # its state, then the tombstone
    group = kafka_settings.topic("processors")
    state, _offsets = stored(tmp_path / "state" / "faust" / group / "member-0", key)
    assert state is None  # gone from the local store too
