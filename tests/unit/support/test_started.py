"""`started` / `to_the_end`: a client whose start (or stop) is cancelled half-way still ends
closed, so no connection is left for the garbage collector to report in a later test."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from tests.support.kafka import started, to_the_end


@dataclass
class SlowClient:
    release: asyncio.Event = field(default_factory=asyncio.Event)
    events: list[str] = field(default_factory=list)
    fail: bool = False

    async def start(self) -> None:
        self.events.append("start")
        await self.release.wait()  # e.g. bootstrap's first metadata request
        if self.fail:
            raise OSError("no broker")
        self.events.append("started")

    async def stop(self) -> None:
        self.events.append("stop")
        await asyncio.sleep(0)
        self.events.append("stopped")


async def test_a_start_cancelled_half_way_ends_stopped() -> None:
    client = SlowClient()
    task = asyncio.create_task(started(client))
    await asyncio.sleep(0.01)
    assert client.events == ["start"]
    task.cancel()
    await asyncio.sleep(0.01)
    assert not task.done()  # the start runs to its end first
    client.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client.events == ["start", "started", "stop", "stopped"]


async def test_a_failed_start_is_stopped_and_raised() -> None:
    client = SlowClient(fail=True)
    client.release.set()
    with pytest.raises(OSError, match="no broker"):
        await started(client)
    assert client.events == ["start", "stop", "stopped"]


async def test_a_started_client_is_returned() -> None:
    client = SlowClient()
    client.release.set()
    assert await started(client) is client
    assert client.events == ["start", "started"]


async def test_a_stop_cancelled_half_way_still_finishes() -> None:
    client = SlowClient()
    task = asyncio.create_task(to_the_end(client.stop()))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client.events == ["stop", "stopped"]
