"""Dead letters on Kafka: read the dlq topic and the redrive markers, redrive records.

A dead letter's trace context is its dlq record's `traceparent` header (the services write it,
a child of the failed record's); `dead_letters` puts it into `DeadLetter.traceparent` and a
redrive sends the original with it, so the reprocessing continues the same trace.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from hookstream.ops.dlq_records import (
    REDRIVE_HEADER,
    REDRIVES_TOPIC,
    RedrivePlan,
    incomplete_redrive_message,
    refusal,
)
from hookstream.ops.errors import OpsError
from hookstream.ops.producers import start_producer
from hookstream.runtime.kafka import TopicSpec, ensure_topics, new_consumer
from hookstream.runtime.settings import KafkaSettings
from hookstream.runtime.tracing import TRACEPARENT, context_of, parse_traceparent
from schemas.dlq import DeadLetter, decode_dead_letter
from schemas.errors import SchemaError


async def read_all(
    settings: KafkaSettings, topic: str, timeout_s: float = 30.0
) -> list[ConsumerRecord]:
    """Every record of a topic: up to the end offsets and one empty fetch after them (the
    embedded broker's end offsets can undercount)."""
    reader = new_consumer(settings, group_id=None)
    await reader.start()
    try:
        parts = (await reader._client.fetch_all_metadata()).partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        return await _drain(reader, tps, timeout_s)
    finally:
        await reader.stop()


async def _drain(
    reader: AIOKafkaConsumer, tps: list[TopicPartition], timeout_s: float
) -> list[ConsumerRecord]:
    ends = await reader.end_offsets(tps)
    records: list[ConsumerRecord] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        batch = await reader.getmany(timeout_ms=300)
        for part in batch.values():
            records += part
        positions = [await reader.position(tp) for tp in tps]
        if not batch and all(p >= ends[tp] for p, tp in zip(positions, tps, strict=True)):
            return records
    raise OpsError(f"reading {tps[0].topic} did not finish within {timeout_s}s")


async def dead_letters(settings: KafkaSettings) -> tuple[list[DeadLetter], int]:
    """The dead letters, and how many records of the dlq topic could not be decoded."""
    letters, bad = [], 0
    for record in await read_all(settings, settings.topic("dlq")):
        try:
            letters.append(with_trace(decode_dead_letter(record.value), record.headers))
        except SchemaError:
            bad += 1
    return letters, bad


def with_trace(
    letter: DeadLetter, headers: Sequence[tuple[str, bytes | None]] | None
) -> DeadLetter:
    """The letter with its trace context: its own field if set, else its record's valid
    `traceparent` header (a malformed one is dropped: the redrive starts no broken trace)."""
    ctx = parse_traceparent(letter.traceparent) if letter.traceparent else context_of(headers)
    value = ctx.header().decode() if ctx is not None else ""
    return letter if value == letter.traceparent else replace(letter, traceparent=value)


async def redriven_ids(settings: KafkaSettings) -> set[str]:
    ids: set[str] = set()
    for record in await read_all(settings, settings.topic(REDRIVES_TOPIC)):
        if record.key is not None:
            key = record.key.decode()
            if record.value is None:
                ids.discard(key)
            else:
                ids.add(key)
    return ids


class RedriveIncomplete(OpsError):
    """Some letters were redriven, then sending failed: the message lists what is left."""


async def missing_topics(settings: KafkaSettings, topics: set[str]) -> list[str]:
    reader = new_consumer(settings, group_id=None)
    await reader.start()
    try:
        known = set((await reader._client.fetch_all_metadata()).topics())
    finally:
        await reader.stop()
    return sorted(topics - known)


def save_redrive_file(state_dir: Path, plan: RedrivePlan) -> Path:
    path = Path(state_dir) / "redrives" / f"{int(time.time() * 1000)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        orjson.dumps(
            {
                "planned_at_ms": int(time.time() * 1000),
                "send": [
                    {"dead_letter_id": d.dead_letter_id, "topic": d.source_topic} for d in plan.send
                ],
            }
        )
    )
    return path


async def redrive(settings: KafkaSettings, plan: RedrivePlan, state_dir: Path | None = None) -> int:
    """Send each letter's original record to its source topic, then its marker. Checked first
    (source topics exist, a producer starts on this broker) and the plan written to the state
    dir, so a failure can only happen while sending, and then says what is left."""
    if not plan.send:
        return 0
    cut = [letter for letter in plan.send if letter.original_truncated]
    if cut:
        raise OpsError("nothing redriven: " + " ".join(refusal(letter) for letter in cut))
    missing = await missing_topics(settings, {letter.source_topic for letter in plan.send})
    if missing:
        raise OpsError(f"nothing redriven: source topic(s) {', '.join(missing)} do not exist")
    await ensure_topics(settings, [TopicSpec(REDRIVES_TOPIC, {"cleanup.policy": "compact"})])
    producer = await start_producer(settings)  # fails here on a broker without idempotence
    done: list[str] = []
    try:
        if state_dir is not None:
            save_redrive_file(state_dir, plan)
        for letter in plan.send:
            await _redrive_one(producer, settings, letter)
            done.append(letter.dead_letter_id)
    except KafkaError as exc:
        left = [letter.dead_letter_id for letter in plan.send[len(done) :]]
        raise RedriveIncomplete(incomplete_redrive_message(done, left, exc)) from exc
    finally:
        await producer.stop()
    return len(done)


async def _redrive_one(
    producer: AIOKafkaProducer,
    settings: KafkaSettings,
    letter: DeadLetter,
) -> None:
    key = letter.key.encode() if letter.key is not None else None
    headers = [(REDRIVE_HEADER, letter.dead_letter_id.encode())]
    if letter.traceparent:  # the same trace goes on: spans of the reprocessing are children
        headers.append((TRACEPARENT, letter.traceparent.encode()))
    sent = await producer.send_and_wait(
        letter.source_topic, letter.original_bytes(), key=key, headers=headers
    )
    marker = orjson.dumps(
        {
            "dead_letter_id": letter.dead_letter_id,
            "topic": sent.topic,
            "partition": sent.partition,
            "offset": sent.offset,
            "redriven_at_ms": int(time.time() * 1000),
        }
    )
    await producer.send_and_wait(
        settings.topic(REDRIVES_TOPIC), marker, key=letter.dead_letter_id.encode()
    )


def unknown_ids(wanted: Sequence[str], letters: Sequence[DeadLetter]) -> list[str]:
    known = {letter.dead_letter_id for letter in letters}
    return [i for i in wanted if i not in known]
