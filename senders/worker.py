"""The sender's consumer loop: read `outbound`, run each conversation in its own lane (strictly
in order), many lanes in parallel, commit each partition up to its first unfinished record.

A record holds an in-flight slot until its outcome is recorded, so the loop stops fetching when
`max_in_flight` records are open. On a rebalance, lanes abandon the records of revoked
partitions (their offsets stay uncommitted; the next owner consults the shared ledger).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from hookstream.runtime.logging import event, get_logger
from hookstream.runtime.replay_bound import StopGate
from hookstream.runtime.tracing import context_of
from senders.offsets import OffsetBook
from senders.outcomes import Source

log = get_logger("sender.worker")

Deliver = Callable[[Source, Callable[[], bool]], Coroutine[Any, Any, bool]]


@dataclass(frozen=True, slots=True)
class Job:
    tp: TopicPartition
    generation: int
    source: Source


class Lanes:
    """One FIFO per conversation key; a lane's task lives while it has work."""

    def __init__(self, deliver: Deliver, slots: int) -> None:
        self._deliver = deliver
        self._queues: dict[bytes | None, deque[Job]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(slots)
        self.book = OffsetBook()
        self.generation: dict[TopicPartition, int] = {}
        self.open = 0
        self.failure: BaseException | None = None

    async def add(self, tp: TopicPartition, source: Source) -> None:
        await self._slots.acquire()
        self.open += 1
        self.book.get(tp).started(source.offset)
        job = Job(tp, self.generation.setdefault(tp, 0), source)
        queue = self._queues.get(source.key)
        if queue is not None:
            queue.append(job)
            return
        self._queues[source.key] = deque([job])
        task = asyncio.create_task(self._run(source.key), name="sender-lane")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, key: bytes | None) -> None:
        queue = self._queues[key]
        try:
            while queue:
                job = queue[0]
                await self._one(job)
                queue.popleft()
        except BaseException as exc:  # the worker stops on it (fatal: ledger/Kafka failure)
            if not isinstance(exc, asyncio.CancelledError):
                self.failure = exc
            raise
        finally:
            self._queues.pop(key, None)

    async def _one(self, job: Job) -> None:
        def abandoned() -> bool:
            return self.generation.get(job.tp) != job.generation

        try:
            if not abandoned() and await self._deliver(job.source, abandoned):
                if not abandoned():
                    self.book.get(job.tp).finished(job.source.offset)
        finally:
            self.open -= 1
            self._slots.release()

    def skip(self, tp: TopicPartition, offset: int) -> None:
        """A record acknowledged unprocessed (past a replay's bound): committable at once."""
        offsets = self.book.get(tp)
        offsets.started(offset)
        offsets.finished(offset)

    def revoke(self, tps: set[TopicPartition]) -> None:
        for tp in tps:
            self.generation[tp] = self.generation.get(tp, 0) + 1
            self.book.forget(tp)

    async def drain(self, timeout_s: float) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    async def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, worker: SenderLoop) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.worker.commit()
        self.worker.lanes.revoke(set(revoked))
        event(log, "partitions_revoked", partitions=sorted(tp.partition for tp in revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.worker.on_assigned()
        event(log, "partitions_assigned", partitions=sorted(tp.partition for tp in assigned))


REDRIVE_HEADER = "hookstream-redrive"  # set by `hookstream dlq redrive` (hookstream.ops)


def redriven_at(record: Any) -> int:
    """The record's timestamp (ms) when it was redriven from the dead letters, else 0."""
    headers = record.headers
    if headers and any(name == REDRIVE_HEADER for name, _ in headers):
        timestamp = record.timestamp
        return (
            timestamp if isinstance(timestamp, int) and timestamp > 0 else int(time.time() * 1000)
        )
    return 0


class SenderLoop:
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        lanes: Lanes,
        on_assigned: Callable[[], Coroutine[Any, Any, None]],
        commit_interval_s: float = 0.2,
        gate: StopGate | None = None,
    ) -> None:
        self.consumer = consumer
        self.lanes = lanes
        self.gate = gate or StopGate({})
        self.beyond_bound = 0
        self._on_assigned = on_assigned
        self._commit_interval_s = commit_interval_s
        self._last_commit = 0.0

    async def on_assigned(self) -> None:
        await self._on_assigned()

    async def commit(self) -> None:
        offsets = self.lanes.book.to_commit()
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except KafkaError as exc:  # a rebalance in progress: the next owner starts earlier
            event(log, "commit_failed", error=type(exc).__name__)
            return
        self.lanes.book.mark_committed(offsets)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.lanes.failure is not None:
                raise self.lanes.failure
            batch = await self.consumer.getmany(timeout_ms=100, max_records=1000)
            for tp, records in batch.items():
                for record in records:
                    if not self.gate.decide(record.topic, record.partition, record.offset).process:
                        self.lanes.skip(tp, record.offset)
                        self.beyond_bound += 1
                        continue
                    source = Source(
                        record.topic,
                        record.partition,
                        record.offset,
                        record.key,
                        record.value,
                        time.monotonic(),
                        redriven_at(record),
                        context_of(record.headers),
                    )
                    await self.lanes.add(tp, source)
            if time.monotonic() - self._last_commit >= self._commit_interval_s:
                await self.commit()
                self._last_commit = time.monotonic()

    async def close(self, drain_s: float) -> None:
        await self.lanes.drain(drain_s)
        await self.lanes.cancel()
        await self.commit()
