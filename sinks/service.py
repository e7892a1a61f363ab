"""The analytics sink: `analytics` topic -> ClickHouse, offsets committed only after the write.

    sink = AnalyticsSink(settings, registry)
    await sink.run(stop)

Loop: poll records into a batch (malformed ones are kept aside for the dlq) until the batch
policy says flush; write the batch (writer.py: already-stored facts dropped, found by lookups
that cost the same however much is stored; one insert per table with a deduplication token,
the minute rollups written in the same part; refused rows isolated); dead-letter the
malformed and refused records; only then mark the batch's records done on the shared consumer
loop (`hookstream.runtime.consumer.BoundedConsumer`: replay bound, offset book), which commits
each partition up to its first record not written yet. If ClickHouse is down the batch is kept
and retried with backoff, and nothing is committed. A batch whose partitions were revoked
meanwhile is not committed: the next owner re-reads it and the writer drops the facts already
stored. Records past a bounded replay's stop are acknowledged unwritten (and counted).

Three stages overlap: the event loop decodes batch N+2 while a second client asks ClickHouse
which facts of batch N+1 it already has and the first client inserts batch N (chDB and the
HTTP client release the GIL while ClickHouse works). A check made before batch N was stored
cannot see N's facts, so N+1 also drops the facts N stored; a retried write checks afresh.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from clickhouse_connect.driver.client import Client
from prometheus_client import CollectorRegistry

from hookstream.runtime.clickhouse import ClickHouseUnavailable, connect, parse_clickhouse_url
from hookstream.runtime.consumer import BoundedConsumer
from hookstream.runtime.kafka import new_consumer, new_producer
from hookstream.runtime.logging import event, get_logger
from hookstream.runtime.replay_bound import StopGate, load_gate
from hookstream.runtime.settings import Settings
from schemas.clickhouse import apply_migrations
from sinks.batch import Batch, BatchPolicy
from sinks.deadletters import dead_letters_for
from sinks.decode import add_records
from sinks.errors import WriteFailed
from sinks.metrics import SinkMetrics
from sinks.retry import Backoff, short_error
from sinks.writer import ClickHouseWriter, Fresh, Prechecked, WriteResult

log = get_logger("sink")
T = TypeVar("T")


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
    group_id: str = ""  # empty: the settings' group ("<topic prefix>sink" unless overridden)
    backoff: Backoff = field(default_factory=Backoff)
    # A JoinGroup can be held for seconds while the group settles (the embedded broker holds it
    # for about half the session timeout), so it gets a longer request timeout than produce.
    consumer_options: dict[str, Any] = field(default_factory=lambda: {"request_timeout_ms": 40_000})
    client: Client | None = None
    checker: Client | None = None  # a second client: checks batch N+1 while N is inserted
    consumer: AIOKafkaConsumer | None = None
    producer: AIOKafkaProducer | None = None
    batch: Batch = field(default_factory=Batch)
    gate: StopGate = field(default_factory=lambda: StopGate({}))
    loop: BoundedConsumer | None = None  # the consumer behind the replay bound and offset book
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _check_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _written: set[str] = field(default_factory=set)  # fact ids the last flush left stored
    fresh: Fresh = field(default_factory=Fresh)  # from which offsets a record is fresh

    def __post_init__(self) -> None:
        self.group_id = self.group_id or self.settings.sink.group(self.settings.kafka)
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
        clients = await self._connect(stop)
        if clients is None:
            return
        self.client, self.checker = clients
        kafka = self.settings.kafka
        self.producer = new_producer(kafka)
        consumer = new_consumer(
            kafka,
            group_id=self.group_id,
            max_poll_records=self.policy.max_rows,
            **self.consumer_options,
        )
        await self.producer.start()
        self.gate = await load_gate(kafka, self.group_id)  # a bounded replay of this group
        consumer.subscribe([kafka.topic("analytics")], listener=self._loop(consumer).listener())
        await consumer.start()
        self.consumer = consumer
        event(log, "sink_started", clickhouse=self.target.describe(), group=self.group_id)
        try:
            await self.consume(consumer, stop)
        finally:
            self.consumer = None
            await consumer.stop()
            await self.producer.stop()
            for client in clients:
                client.close()
            self.client = self.checker = None

    async def _connect(self, stop: asyncio.Event) -> tuple[Client, Client] | None:
        attempt = 0
        while not stop.is_set():
            try:
                return await asyncio.to_thread(self._open)
            except Exception as exc:  # noqa: BLE001 - reported in one line, then retried
                attempt += 1
                delay = self.backoff.delay_s(attempt)
                level = logging.ERROR if attempt == 1 else logging.DEBUG
                event(
                    log,
                    "clickhouse_unavailable",
                    level,
                    clickhouse=self.target.describe(),
                    error=short_error(exc),
                    attempt=attempt,
                    retry_in_s=delay,
                )
                if await wait_or_stop(stop, delay):
                    return None
        return None

    def _open(self) -> tuple[Client, Client]:
        client = connect(self.target)
        try:
            applied = apply_migrations(client, self.target.database, self.settings.sink.ttl_days)
            checker = connect(self.target)
        except Exception:
            client.close()
            raise
        event(log, "clickhouse_ready", clickhouse=self.target.describe(), migrations=applied)
        return client, checker

    def _loop(self, consumer: AIOKafkaConsumer) -> BoundedConsumer:
        """The shared consumer loop around `consumer` (one per consumer)."""
        if self.loop is None or self.loop.consumer is not consumer:
            beyond = self.metrics.beyond_replay_bound.inc
            self.loop = BoundedConsumer(
                consumer,
                self.gate,
                on_beyond=beyond,
                on_assigned=partial(self._assigned, consumer),
                log=log,
            )
        return self.loop

    async def _assigned(self, consumer: AIOKafkaConsumer) -> None:
        """Records past the partitions' ends now were handed to no writer before: their facts
        need only the ledger lookup (sinks/writer.py, `Fresh`)."""
        tps = list(consumer.assignment())
        try:
            ends = await consumer.end_offsets(tps) if tps else {}
        except KafkaError as exc:  # not known: every record stays suspect (both lookups)
            event(log, "sink_end_offsets_failed", logging.WARNING, error=short_error(exc))
            return
        self.fresh.assigned({(tp.topic, tp.partition): end for tp, end in ends.items()})

    async def consume(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        """Poll into a batch; when it is due, start checking which of its facts are stored (on
        the second client) and hand it to a flush task, and keep decoding the next one meanwhile
        (the writes run in threads). Flushes run one after another; a second due batch waits for
        the first flush (backpressure). Each partition is committed up to its first record not
        written yet, so a commit never passes a batch still being written."""
        loop = self._loop(consumer)
        pending: asyncio.Task[bool] | None = None
        checking: asyncio.Task[Prechecked | None] | None = None
        try:
            while not stop.is_set():
                await self._poll(loop)
                if self.policy.due(len(self.batch), self.batch.age_s(time.monotonic())):
                    batch, self.batch = self.batch, Batch()
                    checking = asyncio.create_task(self._precheck(batch))
                    if pending is not None and not await pending:
                        return  # stopping before the previous batch was written
                    pending = asyncio.create_task(self.flush(loop, stop, batch, checking))
                    # Let the check and the flush reach their threads now: with records
                    # buffered, polling never suspends, and they would wait until awaited.
                    await asyncio.sleep(0)
                elif not len(self.batch):
                    await loop.commit()  # what lay past a replay's bound, acknowledged unwritten
            if pending is not None and not await pending:
                return
            if len(self.batch):
                await self.flush(loop, stop, self.batch, retry=False)
        finally:
            tasks = [t for t in (pending, checking) if t is not None and not t.done()]
            if pending in tasks:
                pending.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _poll(self, loop: BoundedConsumer) -> None:
        wait_s = self.policy.wait_s(len(self.batch), self.batch.age_s(time.monotonic()))
        polled = await loop.poll(
            timeout_ms=int(min(wait_s, 0.5) * 1000),
            max_records=max(self.policy.max_rows - len(self.batch), 1),
        )
        now = time.monotonic()
        for taken in polled:
            add_records(self.batch, taken.records, now)
            self.batch.taken.append(taken)

    async def _precheck(self, batch: Batch) -> Prechecked | None:
        """Which of the batch's facts ClickHouse has, asked ahead of the write; None if that
        could not be asked (the write then asks itself)."""
        if self.checker is None or not batch.tables:
            return None
        checker = self._writer(self.checker)
        try:
            async with self._check_lock:
                return await asyncio.to_thread(checker.check, batch)
        except (WriteFailed, ClickHouseUnavailable, OSError):
            return None

    async def flush(
        self,
        loop: BoundedConsumer,
        stop: asyncio.Event,
        batch: Batch,
        checking: asyncio.Task[Prechecked | None] | None = None,
        retry: bool = True,
    ) -> bool:
        """Write, dead-letter, then commit one batch; False if stopped before it was written."""
        attempt, started = 0, time.monotonic()
        checked = await checking if checking is not None else None
        if checked is not None:  # the previous batch was written after that check
            checked = replace(checked, since=self._written & batch.seen)
        while True:
            try:
                result = await self.with_client(partial(self._write, batch, checked))
                await self._dead_letter(batch, result)
                break
            except (WriteFailed, ClickHouseUnavailable, KafkaError, OSError) as exc:
                attempt, checked = attempt + 1, None  # a retry asks ClickHouse afresh
                self.metrics.write_failures.inc()
                event(
                    log,
                    "batch_write_failed",
                    logging.WARNING,
                    rows=len(batch),
                    error=short_error(exc),
                    attempt=attempt,
                )
                if not retry or await wait_or_stop(stop, self.backoff.delay_s(attempt)):
                    return False
        self._written = batch.seen.difference(r.values[0] for r in result.rejected)
        self.metrics.observe(result, time.monotonic() - started)
        for taken in batch.taken:
            loop.done_all(taken)
        await loop.commit()
        return True

    def _write(self, batch: Batch, checked: Prechecked | None, client: Client) -> WriteResult:
        return self._writer(client).write(batch, checked)

    def _writer(self, client: Client) -> ClickHouseWriter:
        return ClickHouseWriter(client, self.target.database, fresh=self.fresh)

    async def _dead_letter(self, batch: Batch, result: WriteResult) -> None:
        if self.producer is None or not (batch.malformed or result.rejected):
            return
        kafka = self.settings.kafka
        letters, facts = dead_letters_for(batch.malformed, result.rejected, int(time.time() * 1000))
        sends: list[Any] = []
        for key, value, headers in letters:
            sends.append(
                await self.producer.send(
                    kafka.topic("dlq"), value=value, key=key, headers=headers or None
                )
            )
        for key, value in facts:
            sends.append(await self.producer.send(kafka.topic("analytics"), value=value, key=key))
        await asyncio.gather(*sends)
        self.metrics.dead_letters.inc(len(letters))
        event(log, "dead_lettered", logging.WARNING, records=len(letters))
