"""Wiring of the sender: Kafka clients, ledger, HTTP client, lanes. `Sender(settings, pages)`
is used by `hookstream sender` (through run_service) and by the tests (in-process)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from hookstream.runtime.consumer import BoundedConsumer, Consumed
from hookstream.runtime.kafka import new_consumer, new_producer
from hookstream.runtime.logging import event, get_logger
from hookstream.runtime.metrics import new_registry
from hookstream.runtime.pages import PagesConfig
from hookstream.runtime.replay_bound import load_gate
from hookstream.runtime.settings import Settings
from hookstream.runtime.tracing import NOOP, Tracer
from senders.delivery import Deliverer
from senders.graph import GraphClient, page_routes
from senders.ledger import Ledger
from senders.metrics import SenderMetrics
from senders.worker import Lanes, SenderLoop
from senders.worker import log as loop_log

log = get_logger("sender")


class Sender:
    def __init__(
        self,
        settings: Settings,
        pages: PagesConfig,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.pages = pages
        self.metrics = SenderMetrics(new_registry())
        self._transport = transport
        self.ready = False
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self.ledger: Ledger | None = None
        self.deliverer: Deliverer | None = None
        self.tracer: Tracer = NOOP  # tracer_for(settings.tracing, "sender") by the CLI
        self.beyond_bound = 0  # records past a bounded replay's stop, acknowledged unsent

    def _beyond_bound(self, count: int) -> None:
        self.beyond_bound += count

    async def _emit(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Any]:
        assert self._producer is not None  # noqa: S101 - started
        future: asyncio.Future[Any] = await self._producer.send(
            topic, value, key=key, headers=headers
        )
        return future

    async def run(self, stop: asyncio.Event) -> None:
        kafka, sender = self.settings.kafka, self.settings.sender
        self._producer = new_producer(kafka)
        await self._producer.start()
        client = GraphClient(sender, self._transport, page_routes(self.pages, self.settings))
        self.ledger = Ledger(
            kafka,
            self._producer,
            state_dir=self.settings.state_dir,
            horizon_s=sender.ledger_horizon_s,
        )
        try:
            await self.ledger.start()
            self.metrics.ledger_size.set_function(lambda: len(self.ledger or ()))
            self.deliverer = Deliverer(
                sender,
                self.pages,
                client,
                self.ledger,
                self._emit,
                {"analytics": kafka.topic("analytics"), "dlq": kafka.topic("dlq")},
                self.metrics,
                tracer=self.tracer,
            )
            await self._consume(stop)
        finally:
            self.ready = False
            await client.close()
            await self.ledger.stop()
            await self._producer.stop()

    async def _deliver(self, source: Consumed, abandoned: Any) -> bool:
        assert self.deliverer is not None  # noqa: S101 - started
        return await self.deliverer.deliver(source, abandoned)

    async def _consume(self, stop: asyncio.Event) -> None:
        kafka, sender = self.settings.kafka, self.settings.sender
        session_ms = int(sender.session_timeout_s * 1000)
        # A JoinGroup may take longer than a plain request (seconds on the embedded broker).
        consumer = new_consumer(
            kafka,
            group_id=sender.group(kafka),
            max_poll_records=1000,
            fetch_max_wait_ms=50,
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=max(100, session_ms // 3),
            request_timeout_ms=max(int(kafka.request_timeout_s * 1000), session_ms + 30_000),
        )
        assert self.ledger is not None  # noqa: S101 - started
        bounded = BoundedConsumer(
            consumer,
            await load_gate(kafka, sender.group(kafka)),  # a bounded replay of this group
            on_beyond=self._beyond_bound,
            on_assigned=self.ledger.catch_up,
            log=loop_log,
        )
        lanes = Lanes(self._deliver, sender.max_in_flight, bounded)
        self.metrics.in_flight.set_function(lambda: lanes.open)
        self.metrics.beyond_replay_bound.set_function(lambda: self.beyond_bound)
        loop = SenderLoop(bounded, lanes)
        consumer.subscribe([kafka.topic("outbound")], listener=bounded.listener())
        await consumer.start()
        self._consumer = consumer
        self.ready = True
        event(
            log,
            "sender_started",
            pages=len(self.pages.pages),
            group=sender.group(kafka),
            base_url=sender.graph_api_base_url,
        )
        try:
            await loop.run(stop)
        finally:
            with contextlib.suppress(Exception):
                await loop.close(drain_s=5.0)
            await consumer.stop()
