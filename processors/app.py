"""The faust-streaming adapter: an agent on `inbound` (key = conversation id), conversation
state in a table with a changelog, outputs to `outbound` / `analytics` / `dlq`.

Per batch (`take_events`): process in order, write each touched conversation's state once, hand
every output to the producer in order; the batch's offsets become committable only after the
broker acknowledged all of its outputs (acks=all), while the next batches are already processed.
The producer is not idempotent (the embedded broker cannot); command ids are deterministic and
the sender's ledger dedupes, so a redelivered batch after a crash is harmless.

faust owns the consumer, so the worker does not run on the sender's and the sink's
`BoundedConsumer`; it shares the rest of that loop (hookstream.runtime.consumer): each event
becomes its `Consumed` record and passes the same `admit` at a replay's bound, and faust's
manual ack, once the batch's outputs are durable, is the commit after effects.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faust
from aiokafka import AIOKafkaProducer
from aiokafka.helpers import create_ssl_context
from faust.types import EventT, StreamT

from hookstream.runtime.consumer import Consumed, admit, consumed
from hookstream.runtime.replay_bound import StopGate, load_plan
from hookstream.runtime.settings import KafkaSettings, Settings
from processors.batch import BatchProcessor, OutRecord
from processors.expiry import SWEEP_EVERY_S, Sweeper
from processors.faust_transport import install as install_transport
from processors.member import MemberSlot, claim_slot, instance_id
from processors.produce import Outgoing, send_batched
from processors.quarantine import CrashGuard, MarkerFile, run_guarded
from processors.table_store import ROCKSDB_OPTIONS, LocalStore, RocksStore, store_url
from schemas.replay import ReplayPlan

TABLE = "conversations"
CHANGELOG_EVERY_S = 0.5  # under load, state changes are written out at most this often
MAX_BATCHES_IN_FLIGHT = 4  # batches whose outputs may await the broker's acks at once


def broker_urls(bootstrap_servers: str) -> list[str]:
    return [f"kafka://{server.strip()}" for server in bootstrap_servers.split(",") if server]


def broker_credentials(kafka: KafkaSettings) -> faust.SASLCredentials | faust.SSLCredentials | None:
    """The worker's SASL and/or TLS, as the other services get them from connection_config."""
    tls = create_ssl_context() if kafka.security_protocol.upper().endswith("SSL") else None
    if kafka.sasl_mechanism:
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.reveal(),
            mechanism=kafka.sasl_mechanism,
            ssl_context=tls,
        )
    return faust.SSLCredentials(tls) if tls is not None else None


def table_dir(settings: Settings, group: str, slot: int) -> Path:
    """Each member slot its own RocksDB files: two workers on one state dir never share them."""
    return Path(settings.state_dir) / "faust" / group / f"member-{slot}"


def faust_app(
    settings: Settings,
    app_id: str | None = None,
    instance_id: str | None = None,
    tabledir: Path | None = None,
) -> faust.App:
    """`instance_id`: the static group membership id (None: dynamic membership)."""
    kafka = settings.kafka
    group = app_id or settings.processors.group(kafka)
    return faust.App(
        group,
        broker=broker_urls(kafka.bootstrap_servers),
        broker_credentials=broker_credentials(kafka),
        store=store_url(settings.processors.store),
        web_enabled=False,
        autodiscover=False,
        datadir=str(Path(settings.state_dir) / "faust"),
        tabledir=str(tabledir or "tables"),  # faust's default: <datadir>/v1/tables
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        topic_allow_declare=True,
        producer_acks=-1,  # acks=all; faust leaves idempotence off outside transactions
        producer_linger_ms=kafka.linger_ms,
        consumer_auto_offset_reset="earliest",
        table_standby_replicas=0,
        broker_session_timeout=settings.processors.session_timeout_s,
        consumer_group_instance_id=instance_id,
        broker_heartbeat_interval=min(3.0, settings.processors.session_timeout_s / 3),
        stream_buffer_maxsize=max(4096, settings.processors.batch_size * 2),
        logging_config=None,
    )


def raw_schema() -> faust.Schema:
    """Bytes in, bytes out: decoding is ours (orjson), so a bad record is ours to dead-letter."""
    return faust.Schema(
        key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )


def replayed_ranges(plan: ReplayPlan | None) -> dict[tuple[str, int], tuple[int, int]]:
    """What an operator's replay of this group re-reads, per partition: from its target up to
    where the group was before (records processed once already, to be processed again)."""
    if plan is None:
        return {}
    return {
        (plan.topic, p.partition): (p.target, p.current)
        for p in plan.partitions
        if p.current is not None and p.target < p.current
    }


def _consumed(event: EventT) -> Consumed:
    """The event's record as the shared consumer loop's record (faust stamps seconds)."""
    message = event.message
    stamp = message.timestamp
    return consumed(message, timestamp_ms=int(stamp * 1000) if stamp else -1)


class ProcessorsApp:
    """Wires a BatchProcessor into a faust app; `app` is what a worker runs."""

    def __init__(
        self, settings: Settings, batch: BatchProcessor, app: faust.App | None = None
    ) -> None:
        self.settings, self.batch = settings, batch
        group = settings.processors.group(settings.kafka)
        group_dir = Path(settings.state_dir) / "processors" / group
        self.slot: MemberSlot = claim_slot(group_dir)
        self.guard = CrashGuard.resume(MarkerFile(self.slot.path / "in-progress.json"))
        self.instance_id = instance_id(settings.processors.instance_id, group_dir, self.slot.index)
        tables = table_dir(settings, group, self.slot.index)
        tables.mkdir(parents=True, exist_ok=True)  # faust creates only its last component
        self.app = app or faust_app(settings, instance_id=self.instance_id, tabledir=tables)
        rocks = str(self.app.conf.store).startswith("rocksdb")
        install_transport(self.app, settings.processors.fetch_max_wait_ms)
        self.inbound = self.app.topic(settings.kafka.topic("inbound"), schema=raw_schema())
        self.table = self.app.Table(
            TABLE,
            default=None,
            schema=raw_schema(),
            key_type=bytes,
            value_type=bytes,
            partitions=settings.kafka.partitions,
            options=dict(ROCKSDB_OPTIONS) if rocks else None,
        )
        self.local: LocalStore | RocksStore = (RocksStore if rocks else LocalStore)(self.table)
        ttl_ms = int(settings.processors.conversation_ttl_s * 1000)
        self.sweeper = Sweeper(self.local.scan, self._expire, ttl_ms)
        self.topics = {
            name: settings.kafka.topic(name) for name in ("outbound", "analytics", "dlq")
        }
        self.batches = 0
        self.in_flight: deque[asyncio.Future[None]] = deque()
        self.buffer: list[EventT] = []
        self.has_work, self.room = asyncio.Event(), asyncio.Event()
        self.stream: StreamT | None = None
        self.gate = StopGate({})
        self.replayed: dict[tuple[str, int], tuple[int, int]] = {}
        # key -> (state, or None: a tombstone; partition, or None: by key as the inbound's)
        self.dirty: dict[bytes, tuple[bytes | None, int | None]] = {}
        self.flushed_at = time.monotonic()
        self.recording: set[asyncio.Future[None]] = set()
        self.app.agent(self.inbound, name="processors")(self._agent)

    async def _agent(self, stream: StreamT) -> None:
        """Events are buffered as they arrive and processed by `_drain` in batches of whatever
        accumulated meanwhile, so faust keeps delivering while a batch is processed. Acks are
        manual: an event is acked once its batch's outputs are durable."""
        manual: StreamT = stream.noack()  # type: ignore[attr-defined]
        self.stream = manual
        # This group's latest replay, loaded before any event: a bounded one (`--to`) stops at
        # its bound; what it re-reads was processed once, so it is not a redelivery to dedupe.
        plan = await load_plan(self.settings.kafka, self.app.conf.id)
        self.gate, self.replayed = StopGate.of(plan), replayed_ranges(plan)
        self.batch.replayed = self._replayed
        drainer = asyncio.ensure_future(self._drain())
        sweeper = asyncio.ensure_future(self._sweep())
        limit = self.settings.processors.batch_size * 4
        try:
            async for event in manual.events():
                self.buffer.append(event)
                self.has_work.set()
                if len(self.buffer) >= limit:
                    self.room.clear()
                    await self.room.wait()
        finally:
            drainer.cancel()
            sweeper.cancel()

    async def _sweep(self) -> None:
        """Idle conversations expire a bounded number of states per run, beside the batches."""
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            if self.sweeper.step(int(time.time() * 1000)):
                await self.flush_changelog()  # the tombstones, also while no event comes

    def _expire(self, key: bytes, partition: int | None) -> None:
        self.local.delete(key, partition)
        self.dirty[key] = (None, partition)  # the tombstone goes out with the next flush

    async def _drain(self) -> None:
        size, within = self.settings.processors.batch_size, self.settings.processors.batch_within_s
        while True:
            await self.has_work.wait()
            if len(self.buffer) < size:
                await asyncio.sleep(within)  # let a batch form; faust keeps delivering meanwhile
            self.has_work.clear()
            while self.buffer:
                events = self.buffer[:size]
                del self.buffer[:size]
                self.room.set()
                try:
                    await self.handle(events)
                except Exception as exc:  # noqa: BLE001 - a bug: crash, reprocess from commit
                    self.batch.metrics.errors.labels("batch_failed").inc()
                    await self.app.crash(exc)
                    return
            await self.flush_changelog()  # idle: write the state changes out now

    async def handle(self, events: Sequence[EventT]) -> None:
        started = time.perf_counter()
        # Past a replay's bound a record is acknowledged without being processed (with its
        # batch, below): a fresh group stops there, the live group skips to where it was.
        records, beyond = admit(self.gate, map(_consumed, events))
        if beyond:
            self.batch.metrics.beyond_replay_bound.inc(len(beyond))
        now_ms = int(time.time() * 1000)
        partitions = {record.key: record.partition for record in records}
        local = self.local

        def load(key: bytes) -> bytes | None:
            return local.get(key, partitions.get(key))

        result = await run_guarded(self.batch, self.guard, records, load, now_ms)
        for key, (value, record) in result.states.items():
            local.put(key, value, record.partition)
            self.dirty[key] = (value, record.partition)
        if time.monotonic() - self.flushed_at >= CHANGELOG_EVERY_S:
            await self.flush_changelog()
        acks = await self.send_all(result.outputs)
        self._hold_until_durable(events, acks)
        while len(self.in_flight) > MAX_BATCHES_IN_FLIGHT:
            await self.in_flight.popleft()
        self.batches += 1
        self.batch.metrics.batch_seconds.observe(time.perf_counter() - started)

    def leave_on_stop(self) -> None:
        """A clean stop (SIGTERM) leaves the group, as a dynamic member would: an operator's
        next step (`hookstream replay --execute` refuses while the group has members) need not
        wait out the session. Only a killed or crashed worker stays a member until it is
        restarted (and handed its partitions back at once) or its session times out."""
        thread = getattr(self.app.consumer, "_thread", None)
        consumer = getattr(thread, "_consumer", None)
        coordinator = getattr(consumer, "_coordinator", None)
        if coordinator is not None and hasattr(coordinator, "_group_instance_id"):
            coordinator._group_instance_id = None  # aiokafka then sends LeaveGroup on close

    def close(self, crashed: bool) -> None:
        """After the app stopped: a clean stop leaves nothing in progress; a crash keeps the
        marker for the next start of this slot. Either way the slot is free again."""
        if not crashed:
            self.guard.store.clear()
        self.guard.store.close()
        self.slot.release()

    def _replayed(self, record: Consumed) -> bool:
        span = self.replayed.get((record.topic, record.partition))
        return span is not None and span[0] <= record.offset < span[1]

    async def flush_changelog(self) -> None:
        """Coalesced changelog writes: one record per conversation changed since the last flush
        (not per batch), on the table's partition. State only saves work after a restart:
        correctness rests on the deterministic ids, so state changes lost at a crash are
        harmless. A tombstone (value None) is an expired conversation. Once acknowledged, the
        offsets are recorded in the local store (RocksDB): a restart reads only what follows."""
        if self.dirty:
            topic = self.table.changelog_topic.get_topic_name()
            records = [
                Outgoing(topic, key, value, partition)  # type: ignore[arg-type]  # None: tombstone
                for key, (value, partition) in self.dirty.items()
            ]
            self.dirty.clear()
            acks = await send_batched(self.aiokafka_producer(), records)
            recording = asyncio.ensure_future(self._persisted(acks))
            self.recording.add(recording)
            recording.add_done_callback(self.recording.discard)
        self.flushed_at = time.monotonic()

    async def _persisted(self, acks: list[asyncio.Future[Any]]) -> None:
        """Each batch's base offset (at or before its last record: recovery re-reads at most a
        batch, harmlessly) as the store's persisted offset of its partition."""
        try:
            done = await asyncio.gather(*acks)
        except Exception:  # noqa: BLE001 - lost state changes are harmless (see above)
            self.batch.metrics.errors.labels("changelog_failed").inc()
            return
        for meta in done:
            self.local.persisted(meta.topic, meta.partition, meta.offset)

    def aiokafka_producer(self) -> AIOKafkaProducer:
        # faust's driver wraps one aiokafka producer (acks from producer_acks, no idempotence).
        producer: AIOKafkaProducer = self.app.producer._ensure_producer()  # type: ignore[attr-defined]
        return producer

    async def send_all(self, outputs: Sequence[OutRecord]) -> list[asyncio.Future[Any]]:
        """Hand every output to the producer in order (per-partition order is kept)."""
        records = [
            Outgoing(self.topics[out.topic], out.key, out.value, None, out.headers)
            for out in outputs
        ]
        return await send_batched(self.aiokafka_producer(), records) if records else []

    def _hold_until_durable(
        self, events: Sequence[EventT], acks: list[asyncio.Future[Any]]
    ) -> None:
        """The batch's events are acked (their offsets become committable) only once the broker
        acknowledged all of the batch's outputs (acks=all). Meanwhile the next batch is already
        being processed, so waiting for acks does not stall the stream."""
        self.in_flight.append(asyncio.ensure_future(self._release(events, acks)))
        while self.in_flight and self.in_flight[0].done():
            self.in_flight.popleft()

    async def _release(self, events: Sequence[EventT], acks: list[asyncio.Future[Any]]) -> None:
        try:
            await asyncio.gather(*acks)
        except Exception as exc:  # noqa: BLE001 - not delivered: crash, reprocess from commit
            self.batch.metrics.errors.labels("produce_failed").inc()
            await self.app.crash(exc)
            return
        stream = self.stream
        if stream is None:
            raise RuntimeError("no stream to ack on")
        for event in events:
            await stream.ack(event)
