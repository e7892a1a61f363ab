"""Reading topics back in tests; starting clients so that no connection outlives them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from hookstream.runtime.kafka import new_consumer
from hookstream.runtime.settings import KafkaSettings


class Startable(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


Client = TypeVar("Client", bound=Startable)


async def started(client: Client) -> Client:
    """`client.start()` that leaves nothing open when it fails or its task is cancelled.

    aiokafka 0.14's bootstrap catches only Kafka errors and timeouts around its first metadata
    request, so a task cancelled there (a helper cancelled at the end of a test) drops the
    bootstrap connection unclosed; the garbage collector reports it later, as an unclosed
    AIOKafkaConnection / StreamWriter in whichever test runs then. Here the start runs to its
    end even when the caller is cancelled, and the client is then stopped: every connection it
    opened is closed before the error goes on."""
    try:
        await to_the_end(client.start())
    except BaseException:
        await to_the_end(client.stop())
        raise
    return client


async def to_the_end(work: Awaitable[None]) -> None:
    """Await `work`, letting it finish even if the caller is cancelled meanwhile (a start or a
    stop cut half-way leaves connections open); the cancellation goes on afterwards."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except BaseException:
        with contextlib.suppress(BaseException):
            await task
        raise


@dataclass(frozen=True)
class Consumed:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


async def read_topic(
    settings: KafkaSettings,
    name: str,
    expected: int | None = None,
    idle_s: float = 1.0,
    timeout_s: float = 30.0,
) -> list[Consumed]:
    """Read a topic from the beginning: until `expected` records, or until it stays idle."""
    consumer = new_consumer(settings, settings.topic(name), group_id=None)
    await consumer.start()
    records: list[Consumed] = []
    loop = asyncio.get_running_loop()
    deadline, last_new = loop.time() + timeout_s, loop.time()
    try:
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                records += [Consumed(m.partition, m.offset, m.key, m.value) for m in messages]
                last_new = loop.time()
            if expected is not None and len(records) >= expected:
                break
            if expected is None and loop.time() - last_new > idle_s:
                break
    finally:
        await consumer.stop()
    return records
