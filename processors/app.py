"""The faust-streaming adapter: an agent on `inbound` (key = conversation id), conversation
state in a table with a changelog, outputs to `outbound` / `analytics` / `dlq`.

Per batch (`take_events`): process in order, write each touched conversation's state once, send
every output and wait for the broker's acks (acks=all) before the batch's offsets are acked.
The producer is not idempotent (the embedded broker cannot); command ids are deterministic and
the sender's ledger dedupes, so a redelivered batch after a crash is harmless.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any

import faust
from faust.types import EventT, StreamT

from hookstream.settings import Settings
from processors.batch import BatchProcessor, InRecord, OutRecord

TABLE = "conversations"


def broker_urls(bootstrap_servers: str) -> list[str]:
    return [f"kafka://{server.strip()}" for server in bootstrap_servers.split(",") if server]


def faust_app(settings: Settings, app_id: str | None = None) -> faust.App:
    kafka = settings.kafka
    return faust.App(
        app_id or kafka.topic("processors"),
        broker=broker_urls(kafka.bootstrap_servers),
        store="memory://",
        web_enabled=False,
        autodiscover=False,
        datadir=str(Path(settings.state_dir) / "faust"),
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        topic_allow_declare=True,
        producer_acks=-1,  # acks=all; faust leaves idempotence off outside transactions
        producer_linger_ms=kafka.linger_ms,
        consumer_auto_offset_reset="earliest",
        table_standby_replicas=0,
        broker_session_timeout=settings.processors.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.processors.session_timeout_s / 3),
        stream_buffer_maxsize=max(4096, settings.processors.batch_size * 2),
        logging_config=None,
    )


def raw_schema() -> faust.Schema:
    """Bytes in, bytes out: decoding is ours (orjson), so a bad record is ours to dead-letter."""
    return faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw",
                        value_serializer="raw")


def _in_record(event: EventT) -> InRecord:
    message = event.message
    return InRecord(message.topic, message.partition, message.offset, message.key,
                    message.value)


class ProcessorsApp:
    """Wires a BatchProcessor into a faust app; `app` is what a worker runs."""

    def __init__(self, settings: Settings, batch: BatchProcessor,
                 app: faust.App | None = None) -> None:
        self.settings, self.batch = settings, batch
        self.app = app or faust_app(settings)
        self.inbound = self.app.topic(settings.kafka.topic("inbound"), schema=raw_schema())
        self.table = self.app.Table(TABLE, default=None, schema=raw_schema(), key_type=bytes,
                                    value_type=bytes, partitions=settings.kafka.partitions)
        self.topics = {name: settings.kafka.topic(name) for name in ("outbound", "analytics",
                                                                     "dlq")}
        self.batches = 0
        self.app.agent(self.inbound, name="processors")(self._agent)

    async def _agent(self, stream: StreamT) -> None:
        conf = self.settings.processors
        batches = stream.take_events(conf.batch_size, conf.batch_within_s)  # type: ignore[attr-defined]
        async for events in batches:
            await self.handle(events)

    async def handle(self, events: Sequence[EventT]) -> None:
        started = time.perf_counter()
        records = [_in_record(event) for event in events]
        result = await self.batch.run(records, self.table.get, int(time.time() * 1000))
        for key, (value, record) in result.states.items():
            self.table.data[key] = value
            self.table.send_changelog(record.partition, key, value)
        await self.send_all(result.outputs)
        self.batches += 1
        self.batch.metrics.batch_seconds.observe(time.perf_counter() - started)

    async def send_all(self, outputs: Sequence[OutRecord]) -> None:
        producer = self.app.producer
        pending: list[Awaitable[Any]] = []
        for out in outputs:
            pending.append(await producer.send(self.topics[out.topic], out.key, out.value,
                                               None, None, None))
        if pending:
            await asyncio.gather(*pending)
