"""The ledger of finished commands: the compacted `sender-ledger` topic (key: command id, or
"<command id>#<part>" for the parts of a split message already delivered).

Every sender instance reads the whole ledger at start and then tails it, so a command finished by
any instance (before a restart or a rebalance) is known everywhere. The embedded broker reports
wrong end offsets after multi-record batches, so the rebuild does not trust them: it reads until
every partition reached its reported end AND a fetch comes back empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from hookstream.runtime.kafka import new_consumer
from hookstream.runtime.logging import event, get_logger
from hookstream.runtime.settings import KafkaSettings

log = get_logger("sender.ledger")


def part_key(command_id: str, part: int) -> str:
    return f"{command_id}#{part}"


class Ledger:
    def __init__(self, kafka: KafkaSettings, producer: AIOKafkaProducer) -> None:
        self._kafka = kafka
        self._producer = producer
        self._topic = kafka.topic("sender-ledger")
        self._consumer: AIOKafkaConsumer | None = None
        self._known: dict[str, str] = {}
        self._tail: asyncio.Task[None] | None = None
        self._empty_fetches = 0

    def outcome(self, key: str) -> str | None:
        return self._known.get(key)

    def __len__(self) -> int:
        return len(self._known)

    async def start(self) -> None:
        consumer = new_consumer(self._kafka, group_id=None)
        await consumer.start()
        self._consumer = consumer
        # After start() a consumer without subscriptions knows no topics on Apache Kafka (its
        # bootstrap asks metadata for none; Tansu answered with all): ask for them.
        cluster = await consumer._client.fetch_all_metadata()
        partitions = cluster.partitions_for_topic(self._topic) or set()
        tps = [TopicPartition(self._topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        started = time.monotonic()
        await self._read_to_end(tps)
        event(
            log,
            "ledger_rebuilt",
            entries=len(self._known),
            seconds=round(time.monotonic() - started, 3),
        )
        self._tail = asyncio.create_task(self._follow(), name="ledger-tail")

    async def stop(self) -> None:
        if self._tail is not None:
            self._tail.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tail
        if self._consumer is not None:
            await self._consumer.stop()

    async def _fetch(self, timeout_ms: int) -> int:
        assert self._consumer is not None  # noqa: S101 - started
        batch = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=10_000)
        count = 0
        for records in batch.values():
            for record in records:
                if record.key is not None:
                    self._known[record.key.decode()] = _status(record.value)
                    count += 1
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
        self._known[key] = status
        value = orjson.dumps(
            {"status": status, "message_id": message_id, "at_ms": int(time.time() * 1000)}
        )
        future: asyncio.Future[object] = await self._producer.send(
            self._topic, value, key=key.encode()
        )
        return future


def _status(value: bytes | None) -> str:
    try:
        data = orjson.loads(value) if value else {}
    except orjson.JSONDecodeError:
        return "delivered"
    return str(data.get("status", "delivered")) if isinstance(data, dict) else "delivered"
