"""Group commit: records of concurrent requests share one produce batch per partition.

aiokafka's per-record `send()` costs several coroutines and futures per record; at thousands of
webhooks per second that is the ingress's largest cost. Here each partition has one pump that
appends records to an open `BatchBuilder` and hands it to `send_batch` as soon as the previous
batch of that partition has drained, as the Java producer does. One pump per partition keeps the
partition's order. A request waits on one future, settled when all its batches are acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer

from hookstream.errors import BrokerUnavailable


@dataclass(eq=False)
class Waiter:
    """One request: its future, and how many of its batches are not acknowledged yet."""

    future: asyncio.Future[None]
    remaining: int = 0

    def fail(self, error: BrokerUnavailable) -> None:
        if not self.future.done():
            self.future.set_exception(error)

    def batch_acknowledged(self) -> None:
        self.remaining -= 1
        if self.remaining == 0 and not self.future.done():
            self.future.set_result(None)


@dataclass(eq=False)
class OpenBatch:
    builder: Any  # aiokafka BatchBuilder
    waiters: list[Waiter] = field(default_factory=list)

    def add(self, key: bytes, value: bytes, waiter: Waiter) -> bool:
        if self.builder.append(timestamp=None, key=key, value=value) is None:
            return False
        if not self.waiters or self.waiters[-1] is not waiter:
            self.waiters.append(waiter)
            waiter.remaining += 1
        return True


def settle(waiters: list[Waiter], delivery: asyncio.Future[Any]) -> None:
    failed = delivery.cancelled() or delivery.exception() is not None
    for waiter in waiters:
        if failed:
            reason = "cancelled" if delivery.cancelled() else repr(delivery.exception())
            waiter.fail(BrokerUnavailable(f"Kafka did not take the batch: {reason}"))
        else:
            waiter.batch_acknowledged()


class PartitionPump:
    def __init__(self, producer: AIOKafkaProducer, topic: str, partition: int,
                 max_queued_batches: int = 64) -> None:
        self.producer, self.topic, self.partition = producer, topic, partition
        self.max_queued_batches = max_queued_batches
        self.open: OpenBatch | None = None
        self.full: deque[OpenBatch] = deque()
        self.wakeup = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"pump-{topic}-{partition}")

    def add(self, key: bytes, value: bytes, waiter: Waiter) -> None:
        if self.open is None:
            self.open = OpenBatch(self.producer.create_batch())
        if not self.open.add(key, value, waiter):
            if len(self.full) >= self.max_queued_batches:
                raise BrokerUnavailable("Kafka is not draining: the ingress backlog is full")
            self.full.append(self.open)
            self.open = OpenBatch(self.producer.create_batch())
            if not self.open.add(key, value, waiter):
                raise BrokerUnavailable("a record is larger than the producer's batch size")
        self.wakeup.set()

    def _next(self) -> OpenBatch | None:
        if self.full:
            return self.full.popleft()
        batch, self.open = self.open, None
        return batch

    async def _run(self) -> None:
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            while (batch := self._next()) is not None:
                await self._hand_over(batch)

    async def _hand_over(self, batch: OpenBatch) -> None:
        # send_batch waits until this partition's previous batch drained; meanwhile new
        # records gather in the next open batch.
        try:
            delivery = await self.producer.send_batch(batch.builder, self.topic,
                                                      partition=self.partition)
        except Exception as exc:  # noqa: BLE001 - any failure fails this batch's requests
            for waiter in batch.waiters:
                waiter.fail(BrokerUnavailable(f"Kafka refused the batch: {type(exc).__name__}"))
            return
        delivery.add_done_callback(lambda done: settle(batch.waiters, done))

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
