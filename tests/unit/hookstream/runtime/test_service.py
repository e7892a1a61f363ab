"""run_service ends cleanly only when asked to (or when its work is done)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket

import pytest

from hookstream.runtime.errors import HookstreamError
from hookstream.runtime.metrics import new_registry
from hookstream.runtime.ports import free_port
from hookstream.runtime.service import ServiceHttp, run_service


def http(port: int | None = None) -> ServiceHttp:
    return ServiceHttp("127.0.0.1", port or free_port(), new_registry())


async def test_work_that_finishes_ends_the_service_cleanly() -> None:
    async def done(stop: asyncio.Event) -> None:
        return None

    await run_service(http(), done)


async def test_work_cancelled_from_within_is_a_failure() -> None:
    async def cancelled(stop: asyncio.Event) -> None:
        raise asyncio.CancelledError  # what aiokafka's stop() can leave instead of the error

    with pytest.raises(HookstreamError, match="cancelled before it was asked to stop"):
        await run_service(http(), cancelled)


async def test_failing_work_raises_its_error() -> None:
    async def broken(stop: asyncio.Event) -> None:
        raise RuntimeError("no partitions")

    with pytest.raises(RuntimeError, match="no partitions"):
        await run_service(http(), broken)


async def test_a_taken_port_is_a_failure_not_a_silent_exit() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()

        async def forever(stop: asyncio.Event) -> None:
            await stop.wait()

        with pytest.raises(HookstreamError, match=r"cannot listen on 127\.0\.0\.1"):
            await run_service(http(taken.getsockname()[1]), forever)


async def test_sigterm_stops_it_cleanly() -> None:
    async def until_stopped(stop: asyncio.Event) -> None:
        asyncio.get_running_loop().call_later(0.2, os.kill, os.getpid(), signal.SIGTERM)
        await stop.wait()

    await run_service(http(), until_stopped)
