"""The sender's consumer loop: read `outbound` through the shared `BoundedConsumer` (replay
bound, commit after effects), run each conversation in its own lane (strictly in order), many
lanes in parallel; each partition is committed up to its first record not delivered yet.

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
from typing import Any

from hookstream.runtime.consumer import BoundedConsumer, Consumed, Taken
from hookstream.runtime.logging import get_logger

log = get_logger("sender.worker")

Deliver = Callable[[Consumed, Callable[[], bool]], Coroutine[Any, Any, bool]]


class Lanes:
    """One FIFO per conversation key; a lane's task lives while it has work."""

    def __init__(self, deliver: Deliver, slots: int, consumer: BoundedConsumer) -> None:
        self._deliver = deliver
        self._consumer = consumer
        self._queues: dict[bytes | None, deque[tuple[Taken, Consumed]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(slots)
        self.open = 0
        self.failure: BaseException | None = None

    async def add(self, taken: Taken, record: Consumed) -> None:
        await self._slots.acquire()
        self.open += 1
        queue = self._queues.get(record.key)
        if queue is not None:
            queue.append((taken, record))
            return
        self._queues[record.key] = deque([(taken, record)])
        task = asyncio.create_task(self._run(record.key), name="sender-lane")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, key: bytes | None) -> None:
        queue = self._queues[key]
        try:
            while queue:
                await self._one(*queue[0])
                queue.popleft()
        except BaseException as exc:  # the worker stops on it (fatal: ledger/Kafka failure)
            if not isinstance(exc, asyncio.CancelledError):
                self.failure = exc
            raise
        finally:
            self._queues.pop(key, None)

    async def _one(self, taken: Taken, record: Consumed) -> None:
        consumer = self._consumer

        def abandoned() -> bool:  # its partition was revoked: the next owner has it
            return not consumer.current(taken)

        try:
            if not abandoned() and await self._deliver(record, abandoned):
                consumer.done(taken, record)
        finally:
            self.open -= 1
            self._slots.release()

    async def drain(self, timeout_s: float) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    async def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class SenderLoop:
    def __init__(
        self, consumer: BoundedConsumer, lanes: Lanes, commit_interval_s: float = 0.2
    ) -> None:
        self.consumer = consumer
        self.lanes = lanes
        self._commit_interval_s = commit_interval_s
        self._last_commit = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.lanes.failure is not None:
                raise self.lanes.failure
            for taken in await self.consumer.poll(timeout_ms=100, max_records=1000):
                for record in taken.records:
                    await self.lanes.add(taken, record)
            if time.monotonic() - self._last_commit >= self._commit_interval_s:
                await self.consumer.commit()
                self._last_commit = time.monotonic()

    async def close(self, drain_s: float) -> None:
        await self.lanes.drain(drain_s)
        await self.lanes.cancel()
        await self.consumer.commit()
