"""The ledger of finished commands: the `sender-ledger` topic (key: command id, or
"<command id>#<part>" for the parts of a split message already delivered), and each sender
instance's local copy of it.

Every sender instance reads the ledger at start and then tails it, so a command finished by any
instance (before a restart or a rebalance) is known everywhere. The embedded broker reports
wrong end offsets after multi-record batches, so the rebuild does not trust them: it reads until
every partition reached its reported end AND a fetch comes back empty.

## Bounded: a horizon, and the copy on disk

The copy used to be a dict of every command id ever finished, rebuilt from the whole compacted
topic at each start: 115-174 B per entry, ~105 GB per instance after a week at 1,000 events/s,
and a start that reads every key ever written. Two decisions bound it
(docs/benchmarks/sender-ledger.md has the arithmetic):

- **A horizon H** (`HOOKSTREAM_SENDER_LEDGER_HORIZON_S`, default 30 days): an entry is needed
  only while the command can still come back, and every way back is bounded in time. A
  command id is derived from its cause event (`command_id_for`), so it comes back (1) when
  `outbound` is re-read: a restart or rebalance before the commit (seconds), a replay of the
  sender's group (as far back as `outbound` is retained, 7 days by default); (2) when
  `inbound` is re-planned: a crash of the processors before their commit, or a reprocess into a
  new group, which plans fresh commands with the same ids (as far back as `inbound` is retained,
  7 days by default); (3) when Meta redelivers a webhook the processors' dedupe window
  (24 h) no longer holds (Meta retries for up to 36 h); (4) when a dead letter is redriven:
  a split message dead-lettered after its first parts were delivered relies on the part entries
  (as far back as `dlq` is retained: the operations docs suggest 30 days). A replayed command
  older than `HOOKSTREAM_SENDER_MAX_REPLY_AGE_S` is refused as stale anyway, but a re-planned or
  redriven one is new, so the horizon has to cover the longest of these retentions. The default,
  30 days, covers all of them with the documented retentions; an operator who keeps a topic
  longer raises H with it. Entries are dropped whole generations at a time (below), so one is
  kept between H and H + H/8 after it was written.
- **On disk** (`rocksdict`, the driver the processors' table uses; `senders/ledger_store.py`): the
  copy is a RocksDB database under `HOOKSTREAM_STATE_DIR/sender-ledger/<topic>/slot-<n>`, one
  column family per generation (H/8 of time each, named by the span it covers). Expiry drops the
  oldest column family, a constant-time operation that needs no tombstone per key and no
  compaction to take effect. Memory is the bounded memtables (16 MiB) and one shared block cache
  (64 MiB, index and filter blocks in it, partitioned), whatever the number of entries; a lookup
  asks each generation, newest first, the bloom filters answering the misses (almost every lookup
  is a miss: a new command). Keys are stored compactly (the 12 bytes of a `cmd_<24 hex>` id, plus
  the part), the value is the status (empty for "delivered"). An instance's own record is held in
  a dict until the tail reads it back from the topic and stores it, so each entry is written once.
  The offsets the copy reflects are written in the same atomic batch as its entries, so a
  restarted instance reads only the topic's tail: any slot is a valid prefix of the one shared
  topic, so an instance takes the first slot no other process holds (RocksDB's lock). A slot ahead
  of the topic's end (a recreated topic) is emptied first. (A stale copy could only hold ids of
  commands that were delivered: ids derive from Meta's event ids.) Without a state dir (tests) or
  without rocksdict, the same generations are dicts in memory.

The topic gets the matching bound: it is created `cleanup.policy=compact,delete` with
`retention.ms` of 30 days (hookstream/runtime/kafka.py), so a fresh instance's rebuild reads at
most that much and the broker's disk is bounded the same way. The topic has to keep at least H
(else a fresh instance would not know the older entries): at start the ledger reads the topic's
config and logs `ledger_topic_retention` at WARNING when it keeps less than H, or keeps
everything (compact only: a topic made before this change; alter it with kafka-configs).
Nothing is ever sent twice within H, which covers every way a command can come back as long as
the retentions stay within H.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from hookstream.runtime.errors import HookstreamError
from hookstream.runtime.kafka import new_admin, new_consumer
from hookstream.runtime.logging import event, get_logger
from hookstream.runtime.settings import KafkaSettings
from senders.ledger_store import DELIVERED, HORIZON_S, Book, Spans, encode_key, open_book

log = get_logger("sender.ledger")


class LedgerUnavailable(HookstreamError):
    """The ledger topic cannot be read: the sender must not run without it."""


def part_key(command_id: str, part: int) -> str:
    return f"{command_id}#{part}"


class Ledger:
    def __init__(
        self,
        kafka: KafkaSettings,
        producer: AIOKafkaProducer,
        *,
        state_dir: Path | None = None,
        horizon_s: float = HORIZON_S,
    ) -> None:
        self._kafka = kafka
        self._producer = producer
        self._topic = kafka.topic("sender-ledger")
        self._state_dir, self._horizon_s = state_dir, horizon_s
        self.spans = Spans(horizon_s)
        self._book: Book | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._tail: asyncio.Task[None] | None = None
        self._empty_fetches = 0
        self._expire_at = 0.0
        # recorded here, not yet read back from the topic (the tail stores them, once)
        self._pending: dict[bytes, str] = {}

    @property
    def book(self) -> Book:
        if self._book is None:
            self._book = open_book(self._state_dir, self._topic, self.spans)
        return self._book

    def outcome(self, key: str) -> str | None:
        stored = encode_key(key)
        pending = self._pending.get(stored)
        return pending if pending is not None else self.book.get(stored)

    def __len__(self) -> int:
        return 0 if self._book is None else len(self._book)

    async def start(self) -> None:
        book = self.book
        consumer = new_consumer(self._kafka, group_id=None)
        await consumer.start()
        self._consumer = consumer
        # After start() a consumer without subscriptions knows no topics on Apache Kafka (its
        # bootstrap asks metadata for none; Tansu answered with all): ask for them.
        tps = await self._partitions(consumer)
        consumer.assign(tps)
        started = time.monotonic()
        dropped = book.expire(now_ms())
        resumed = await self._resume(tps)
        kept = len(book)
        await self._read_to_end(tps)
        event(
            log,
            "ledger_rebuilt",
            entries=len(book),
            kept=kept,
            expired=dropped,
            resumed=resumed,
            seconds=round(time.monotonic() - started, 3),
        )
        self._tail = asyncio.create_task(self._follow(), name="ledger-tail")
        await self._check_retention()

    async def _partitions(
        self, consumer: AIOKafkaConsumer, wait_s: float = 30.0
    ) -> list[TopicPartition]:
        """The topic's partitions, waiting for them: a topic just created may not be in the
        metadata yet, and a ledger reading none would know nothing while it runs."""
        deadline = time.monotonic() + wait_s
        while True:
            cluster = await consumer._client.fetch_all_metadata()
            partitions = cluster.partitions_for_topic(self._topic)
            if partitions:
                return [TopicPartition(self._topic, p) for p in sorted(partitions)]
            if time.monotonic() >= deadline:
                raise LedgerUnavailable(f"topic {self._topic} has no partitions after {wait_s} s")
            await asyncio.sleep(0.5)

    async def _check_retention(self) -> None:
        """Warn when the topic keeps less than the horizon, or everything (never fails)."""
        try:
            policy, retention_ms = await topic_retention(self._kafka, self._topic)
        except Exception as exc:  # noqa: BLE001 - a broker without DescribeConfigs: unknown
            event(log, "ledger_topic_retention_unknown", error=type(exc).__name__)
            return
        horizon_ms = self.spans.horizon_ms
        if "delete" not in policy or retention_ms < 0:
            event(
                log,
                "ledger_topic_retention",
                logging.WARNING,
                problem="keeps every record: set cleanup.policy=compact,delete and retention.ms",
                horizon_ms=horizon_ms,
            )
        elif retention_ms < horizon_ms:
            event(
                log,
                "ledger_topic_retention",
                logging.WARNING,
                problem="keeps less than the horizon: a fresh instance forgets older entries",
                retention_ms=retention_ms,
                horizon_ms=horizon_ms,
            )

    async def _resume(self, tps: list[TopicPartition]) -> bool:
        """Seek to where the local copy stopped; start over on a copy ahead of the topic."""
        assert self._consumer is not None  # noqa: S101 - started
        book = self.book
        saved = book.offsets()
        ends = await self._consumer.end_offsets(tps) if tps else {}
        begins = await self._consumer.beginning_offsets(tps) if tps else {}
        if any(
            offset > ends.get(TopicPartition(self._topic, p), -1) for p, offset in saved.items()
        ):
            book.reset()  # a recreated topic: this copy is of another one
            saved = {}
        for tp in tps:
            offset = saved.get(tp.partition)
            if offset is None or offset < begins[tp]:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, offset)
        return bool(saved)

    async def stop(self) -> None:
        if self._tail is not None:
            self._tail.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tail
        if self._consumer is not None:
            await self._consumer.stop()
        if self._book is not None:
            self._book.close()
            self._book = None

    async def _fetch(self, timeout_ms: int) -> int:
        assert self._consumer is not None  # noqa: S101 - started
        batch = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=10_000)
        entries: list[tuple[bytes, str, int]] = []
        offsets: dict[int, int] = {}
        count, now, too_old = 0, now_ms(), self.spans.too_old
        for tp, records in batch.items():
            for record in records:
                if record.key is not None:
                    count += 1
                    status, at_ms = _parse(record.value, record.timestamp)
                    if not too_old(at_ms, now):
                        entries.append((encode_key(record.key.decode()), status, at_ms))
            if records:
                offsets[tp.partition] = records[-1].offset + 1
        if offsets:
            self.book.put(entries, offsets)
            if self._pending:
                for key, _, _ in entries:
                    self._pending.pop(key, None)
        if time.monotonic() >= self._expire_at:
            self._expire_at = time.monotonic() + 60.0
            dropped = self.book.expire(now_ms())
            if dropped:
                event(log, "ledger_expired", entries=dropped, horizon_s=self._horizon_s)
        self._empty_fetches = self._empty_fetches + 1 if count == 0 else 0
        return count

    async def _read_to_end(self, tps: list[TopicPartition]) -> None:
        assert self._consumer is not None  # noqa: S101 - started
        ends = await self._consumer.end_offsets(tps) if tps else {}
        while True:
            got = await self._fetch(timeout_ms=300)
            behind = [tp for tp in tps if await self._consumer.position(tp) < ends[tp]]
            if got == 0 and not behind:
                return

    async def _follow(self) -> None:
        while True:
            try:
                await self._fetch(timeout_ms=500)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep tailing through broker hiccups
                event(log, "ledger_tail_failed", error=type(exc).__name__)
                await asyncio.sleep(1.0)

    async def catch_up(self, timeout_s: float = 10.0) -> None:
        """Wait until the tail has seen an empty fetch after this call (e.g. after a rebalance)."""
        assert self._consumer is not None  # noqa: S101 - started
        deadline = time.monotonic() + timeout_s
        tps = list(self._consumer.assignment())
        ends = await self._consumer.end_offsets(tps) if tps else {}
        self._empty_fetches = 0
        while self._empty_fetches < 1 and time.monotonic() < deadline:
            positions = [await self._consumer.position(tp) for tp in tps]
            if all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)):
                await asyncio.sleep(0.05)  # reported end reached; wait for an empty fetch
            await asyncio.sleep(0.05)

    async def record(self, key: str, status: str, message_id: str = "") -> asyncio.Future[object]:
        """Queue the ledger write (acks=all); await the returned future before committing."""
        at_ms = now_ms()
        self._pending[encode_key(key)] = DELIVERED if status == DELIVERED else status
        value = orjson.dumps({"status": status, "message_id": message_id, "at_ms": at_ms})
        future: asyncio.Future[object] = await self._producer.send(
            self._topic, value, key=key.encode()
        )
        return future


async def topic_retention(kafka: KafkaSettings, topic: str) -> tuple[str, int]:
    """(cleanup.policy, retention.ms) of the topic, as the broker reports them."""
    admin = new_admin(kafka)
    await admin.start()
    try:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    found: dict[str, str] = {}
    for response in responses:
        for resource in response.resources:
            for entry in resource[4]:
                found[str(entry[0])] = str(entry[1])
    return found.get("cleanup.policy", "delete"), int(found.get("retention.ms", "-1"))


def now_ms() -> int:
    return int(time.time() * 1000)


def _parse(value: bytes | None, timestamp_ms: int) -> tuple[str, int]:
    """(status, written at) of a ledger record; the record's own timestamp when it says none."""
    try:
        data = orjson.loads(value) if value else {}
    except orjson.JSONDecodeError:
        return DELIVERED, timestamp_ms
    if not isinstance(data, dict):
        return DELIVERED, timestamp_ms
    at_ms = data.get("at_ms")
    return (
        str(data.get("status", DELIVERED)),
        at_ms if isinstance(at_ms, int) and at_ms > 0 else timestamp_ms,
    )
