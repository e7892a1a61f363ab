"""The analytics sink: `analytics` topic -> ClickHouse, offsets committed only after the write.

    sink = AnalyticsSink(settings, registry)
    await sink.run(stop)

Loop: poll records into a batch (malformed ones are kept aside for the dlq) until the batch
policy says flush; write the batch (writer.py: already-stored facts dropped, one insert per
table with a deduplication token, refused rows isolated); dead-letter the malformed and refused
records; only then commit the batch's offsets. If ClickHouse is down the batch is kept and
retried with backoff, and nothing is committed. A batch whose partitions were revoked meanwhile
is not committed: the next owner re-reads it and the writer drops the facts already stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from clickhouse_connect.driver.client import Client
from prometheus_client import CollectorRegistry

from hookstream.clickhouse import ClickHouseUnavailable, connect, parse_clickhouse_url
from hookstream.kafka import new_consumer, new_producer
from hookstream.logging import event, get_logger
from hookstream.ops.bounded import load_gate
from hookstream.ops.bounds import StopGate
from hookstream.settings import Settings
from schemas.clickhouse import apply_migrations
from sinks.batch import Batch, BatchPolicy, Source
from sinks.deadletters import dead_letters_for
from sinks.decode import add_record
from sinks.errors import WriteFailed
from sinks.metrics import SinkMetrics
from sinks.retry import Backoff, short_error
from sinks.writer import ClickHouseWriter, WriteResult

log = get_logger("sink")
T = TypeVar("T")
GROUP_ID = "hookstream-sink"


async def wait_or_stop(stop: asyncio.Event, delay_s: float) -> bool:
    """Sleep up to `delay_s`; True if `stop` was set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=delay_s)
    except TimeoutError:
        return False
    return True


@dataclass
class AnalyticsSink:
    settings: Settings
    registry: CollectorRegistry
    group_id: str = GROUP_ID
    backoff: Backoff = field(default_factory=Backoff)
    # A JoinGroup can be held for seconds while the group settles (the embedded broker holds it
    # for about half the session timeout), so it gets a longer request timeout than produce.
    consumer_options: dict[str, Any] = field(
        default_factory=lambda: {"request_timeout_ms": 40_000}
    )
    client: Client | None = None
    consumer: AIOKafkaConsumer | None = None
    producer: AIOKafkaProducer | None = None
    batch: Batch = field(default_factory=Batch)
    gate: StopGate = field(default_factory=lambda: StopGate({}))
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self.target = parse_clickhouse_url(self.settings.sink.clickhouse_url)
        self.policy = BatchPolicy(self.settings.sink.batch_rows, self.settings.sink.batch_age_s)
        self.metrics = SinkMetrics(self.registry)

    def ready(self) -> bool:
        return self.client is not None and self.consumer is not None

    async def with_client(self, work: Callable[[Client], T]) -> T:
        """Run blocking ClickHouse work in a thread, one call at a time on our client."""
        if self.client is None:
            raise ClickHouseUnavailable("the sink is not connected to ClickHouse yet")
        client = self.client
        async with self._lock:
            return await asyncio.to_thread(work, client)

    async def run(self, stop: asyncio.Event) -> None:
        self.client = await self._connect(stop)
        if self.client is None:
            return
        kafka = self.settings.kafka
        self.producer = new_producer(kafka)
        consumer = new_consumer(kafka, kafka.topic("analytics"), group_id=self.group_id,
                                max_poll_records=self.policy.max_rows, **self.consumer_options)
        await self.producer.start()
        self.gate = await load_gate(kafka, self.group_id)  # a bounded replay of this group
        await consumer.start()
        self.consumer = consumer
        event(log, "sink_started", clickhouse=self.target.describe(), group=self.group_id)
        try:
            await self.consume(consumer, stop)
        finally:
            self.consumer = None
            await consumer.stop()
            await self.producer.stop()
            self.client.close()
            self.client = None

    async def _connect(self, stop: asyncio.Event) -> Client | None:
        attempt = 0
        while not stop.is_set():
            try:
                return await asyncio.to_thread(self._open)
            except Exception as exc:  # noqa: BLE001 - reported in one line, then retried
                attempt += 1
                delay = self.backoff.delay_s(attempt)
                level = logging.ERROR if attempt == 1 else logging.DEBUG
                event(log, "clickhouse_unavailable", level, clickhouse=self.target.describe(),
                      error=short_error(exc), attempt=attempt, retry_in_s=delay)
                if await wait_or_stop(stop, delay):
                    return None
        return None

    def _open(self) -> Client:
        client = connect(self.target)
        try:
            applied = apply_migrations(client, self.target.database, self.settings.sink.ttl_days)
        except Exception:
            client.close()
            raise
        event(log, "clickhouse_ready", clickhouse=self.target.describe(), migrations=applied)
        return client

    async def consume(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        """Poll into a batch; when it is due, hand it to a flush task and keep decoding the next
        one meanwhile (the write runs in a thread). Flushes run one after another, so offsets
        are committed in order; a second due batch waits for the first flush (backpressure)."""
        pending: asyncio.Task[bool] | None = None
        try:
            while not stop.is_set():
                await self._poll(consumer)
                if self.policy.due(len(self.batch), self.batch.age_s(time.monotonic())):
                    batch, self.batch = self.batch, Batch()
                    if pending is not None and not await pending:
                        return  # stopping before the previous batch was written
                    pending = asyncio.create_task(self.flush(consumer, stop, batch))
            if pending is not None and not await pending:
                return
            if len(self.batch):
                await self.flush(consumer, stop, self.batch, retry=False)
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)

    async def _poll(self, consumer: AIOKafkaConsumer) -> None:
        wait_s = self.policy.wait_s(len(self.batch), self.batch.age_s(time.monotonic()))
        records = await consumer.getmany(
            timeout_ms=int(min(wait_s, 0.5) * 1000),
            max_records=max(self.policy.max_rows - len(self.batch), 1),
        )
        now = time.monotonic()
        for messages in records.values():
            for message in messages:
                if self.gate.decide(message.topic, message.partition, message.offset).process:
                    add_record(self.batch, message, now)
                else:
                    self.batch.skip(Source(message.topic, message.partition, message.offset,
                                           message.key, message.value), now)
                    self.metrics.beyond_replay_bound.inc()

    async def flush(self, consumer: AIOKafkaConsumer, stop: asyncio.Event, batch: Batch,
                    retry: bool = True) -> bool:
        """Write, dead-letter, then commit one batch; False if stopped before it was written."""
        attempt, started = 0, time.monotonic()
        while True:
            try:
                result = await self.with_client(lambda c: self._writer(c).write(batch))
                await self._dead_letter(batch, result)
                break
            except (WriteFailed, ClickHouseUnavailable, KafkaError, OSError) as exc:
                attempt += 1
                self.metrics.write_failures.inc()
                event(log, "batch_write_failed", logging.WARNING, rows=len(batch),
                      error=short_error(exc), attempt=attempt)
                if not retry or await wait_or_stop(stop, self.backoff.delay_s(attempt)):
                    return False
        self.metrics.observe(result, time.monotonic() - started)
        await self._commit(consumer, batch)
        return True

    def _writer(self, client: Client) -> ClickHouseWriter:
        lookback_ms = int(self.settings.sink.dedup_lookback_s * 1000)
        return ClickHouseWriter(client, self.target.database, lookback_ms)

    async def _dead_letter(self, batch: Batch, result: WriteResult) -> None:
        if self.producer is None or not (batch.malformed or result.rejected):
            return
        kafka = self.settings.kafka
        letters, facts = dead_letters_for(batch.malformed, result.rejected, int(time.time() * 1000))
        sends: list[Any] = []
        for key, value in letters:
            sends.append(await self.producer.send(kafka.topic("dlq"), value=value, key=key))
        for key, value in facts:
            sends.append(await self.producer.send(kafka.topic("analytics"), value=value, key=key))
        await asyncio.gather(*sends)
        self.metrics.dead_letters.inc(len(letters))
        event(log, "dead_lettered", logging.WARNING, records=len(letters))

    async def _commit(self, consumer: AIOKafkaConsumer, batch: Batch) -> None:
        offsets = {TopicPartition(t, p): nxt for (t, p), nxt in batch.commit_offsets().items()}
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:
            # Partitions moved to another consumer: it re-reads this range and the writer
            # drops the facts already stored, so nothing counts twice.
            event(log, "commit_skipped", logging.WARNING, error=short_error(exc))
