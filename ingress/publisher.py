"""Writes records to Kafka and says when they are durable (acks=all), within a deadline.

Also owns readiness: a background check asks the broker for metadata every interval, so `/readyz`
turns 503 while the broker is unreachable and back to 200 when it answers, without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from hookstream.errors import BrokerUnavailable
from hookstream.kafka import CachedPartitioner, new_producer
from hookstream.logging import event, get_logger
from hookstream.settings import KafkaSettings
from ingress.batcher import PartitionPump, Waiter

log = get_logger("ingress.publisher")

KeyValue = tuple[bytes, bytes]


class KafkaPublisher:
    def __init__(self, settings: KafkaSettings, check_interval_s: float = 1.0) -> None:
        self._settings = settings
        self._check_interval_s = check_interval_s
        self._producer: AIOKafkaProducer | None = None
        self._started = False
        self._partitioner = CachedPartitioner()
        self._pumps: dict[str, dict[int, PartitionPump]] = {}
        self._partition_ids: dict[str, list[int]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.ready = False

    async def start(self) -> None:
        self._producer = new_producer(self._settings)
        self._tasks.append(asyncio.create_task(self._start_and_watch(), name="publisher-watch"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for pumps in self._pumps.values():
            for pump in pumps.values():
                await pump.stop()
        if self._producer is not None and self._started:
            await self._producer.stop()
        self.ready = False

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise BrokerUnavailable("the publisher has not been started")
        return self._producer

    async def _start_and_watch(self) -> None:
        while not self._started:
            try:
                await self.producer.start()
                self._started = True
            except Exception as exc:  # noqa: BLE001 - broker down at start: keep trying
                event(log, "broker_unreachable_at_start", error=type(exc).__name__)
                await asyncio.sleep(self._check_interval_s)
        while True:
            await self._check()
            await asyncio.sleep(self._check_interval_s)

    async def _check(self) -> None:
        try:
            await asyncio.wait_for(
                self.producer.client.fetch_all_metadata(), timeout=self._check_interval_s * 2
            )
            healthy = True
        except Exception:  # noqa: BLE001 - any failure means the broker does not answer
            healthy = False
        if healthy != self.ready:
            event(log, "broker_ready" if healthy else "broker_unreachable")
        self.ready = healthy

    async def publish(self, topic: str, records: Sequence[KeyValue], deadline_s: float) -> None:
        """Return once Kafka acknowledged every record; raise BrokerUnavailable otherwise."""
        if not self._started:
            raise BrokerUnavailable("the Kafka producer is not connected yet")
        pumps = self._pumps.get(topic) or await self._open_pumps(topic, deadline_s)
        partition_ids = self._partition_ids[topic]
        loop = asyncio.get_running_loop()
        waiter = Waiter(loop.create_future())
        for key, value in records:
            pumps[self._partitioner(key, partition_ids, partition_ids)].add(key, value, waiter)
        if waiter.remaining == 0:
            return
        # A plain timer, not asyncio.timeout(): cheaper, and it never cancels aiokafka's work.
        timer = loop.call_later(deadline_s, self._expire, waiter, deadline_s)
        try:
            await waiter.future
        finally:
            timer.cancel()

    def _expire(self, waiter: Waiter, deadline_s: float) -> None:
        if not waiter.future.done():
            self.ready = False
            waiter.fail(BrokerUnavailable(f"Kafka did not acknowledge within {deadline_s:.1f}s"))

    async def _open_pumps(self, topic: str, deadline_s: float) -> dict[int, PartitionPump]:
        try:
            async with asyncio.timeout(deadline_s):
                partitions = sorted(await self.producer.partitions_for(topic))
        except Exception as exc:  # noqa: BLE001 - no metadata for the topic: a 503, not a 500
            raise BrokerUnavailable(f"no partitions known for {topic}: {exc!r}") from None
        if topic not in self._pumps:
            self._partition_ids[topic] = partitions
            self._pumps[topic] = {p: PartitionPump(self.producer, topic, p) for p in partitions}
        return self._pumps[topic]
