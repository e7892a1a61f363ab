"""Two processors workers in one group, one SIGKILLed mid-stream and restarted.

Table recovery on the embedded broker can miss the newest changelog records, and the killed
worker's uncommitted batches are processed again: duplicates on `outbound` may appear, but only
with command ids that exist anyway (deterministic), so the sender's ledger delivers each once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hookstream.runtime.settings import KafkaSettings
from ingress.splitter import split
from schemas.commands import command_id_for, decode_command
from tests.support.processors_rig import (
    PAGE,
    Service,
    chunks,
    collect,
    produce,
    service_env,
    text_event,
)

pytestmark = pytest.mark.integration

USERS, PER_USER = 40, 15


def inbound_records() -> list[tuple[bytes, bytes]]:
    events = [text_event(f"w{u}", seq) for seq in range(PER_USER) for u in range(USERS)]
    records = []
    for chunk in chunks(events, 20):
        body = {"object": "page", "entry": [{"id": PAGE, "messaging": chunk}]}
        records += [(r.key, r.value) for r in split(body, 1, "r")]
    return records


def expected_order(user: int) -> list[str]:
    return [command_id_for(f"message:m-w{user}-{seq}", 0) for seq in range(PER_USER)]


async def test_two_workers_one_killed_and_restarted_lose_nothing_and_keep_ids(
    kafka_settings: KafkaSettings,
    tmp_path: Path,
) -> None:
    env = service_env(kafka_settings, tmp_path)
    first = Service("processors-a", env, tmp_path).start()
    second = Service("processors-b", env, tmp_path).start()
    records = inbound_records()
    try:
        await asyncio.gather(first.ready(), second.ready())
        cut = len(records) * 2 // 3
        await produce(kafka_settings, records[:cut])
        await collect(kafka_settings, "outbound", lambda r: len(r) >= len(records) // 4, settle_s=0)
        first.kill()  # mid-stream: a third of the input is not even produced yet
        await produce(kafka_settings, records[cut:])
        first.start()
        await first.ready()
        wanted = {cid for user in range(USERS) for cid in expected_order(user)}
        outbound = await collect(
            kafka_settings,
            "outbound",
            lambda r: wanted <= {decode_command(x.value).command_id for x in r},
            timeout_s=120,
            settle_s=2.0,
        )
    finally:
        first.stop()
        second.stop()
    commands = [decode_command(r.value) for r in outbound]
    ids = [c.command_id for c in commands]
    assert set(ids) == wanted  # nothing missing, no id that should not exist
    first_seen: dict[str, list[str]] = {}
    for command in commands:
        seen = first_seen.setdefault(command.conversation_id, [])
        if command.command_id not in seen:
            seen.append(command.command_id)
    for user in range(USERS):  # in order per conversation, counting each id once
        assert first_seen[f"{PAGE}:w{user}"] == expected_order(user)
    duplicates = {cid for cid in ids if ids.count(cid) > 1}
    for cid in duplicates:  # a re-emitted command is the same command
        copies = {
            (c.page_id, c.recipient_id, str(c.message)) for c in commands if c.command_id == cid
        }
        assert len(copies) == 1
