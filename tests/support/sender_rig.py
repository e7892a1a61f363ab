"""Helpers of the sender's integration tests: pages, commands, an in-process sender and sandbox.

Imported by tests/integration/test_sender_*.py (not a pytest conftest: explicit imports).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import replace
from typing import Any

import httpx
import orjson

from hookstream.runtime.kafka import new_producer
from hookstream.runtime.pages import PageConfig, PagesConfig
from hookstream.runtime.settings import KafkaSettings, Secret, SenderSettings, Settings
from hookstream.sandbox.app import Sandbox, sandbox_tokens
from hookstream.sandbox.server import serving
from schemas.analytics import DeliveryResult, decode_fact
from schemas.commands import OutboundCommand, command_id_for
from schemas.dlq import DeadLetter, decode_dead_letter
from senders.service import Sender
from tests.support.kafka import read_topic

PAGE_A, PAGE_B, PAGE_NO_TOKEN = "1001", "2002", "3003"
TOKENS = {PAGE_A: "token-a", PAGE_B: "token-b"}


def make_pages(typing_on: bool = False, extra: Iterable[str] = ()) -> PagesConfig:
    pages = {
        pid: PageConfig(pid, access_token=Secret(tok), typing_on=typing_on)
        for pid, tok in TOKENS.items()
    }
    pages[PAGE_NO_TOKEN] = PageConfig(PAGE_NO_TOKEN, access_token_ref="env:PAGE_3003_TOKEN")
    for pid in extra:
        pages[pid] = PageConfig(pid, access_token=Secret(f"token-{pid}"))
    return PagesConfig(pages)


def sandbox_for(pages: PagesConfig) -> Sandbox:
    return Sandbox(
        sandbox_tokens({pid: p.access_token.reveal() for pid, p in pages.pages.items()}, ())
    )


def sender_settings(base: Settings, url: str, **overrides: Any) -> Settings:
    """Fast retries, a short session (faster group joins on the embedded broker)."""
    section = SenderSettings(
        graph_api_base_url=url,
        graph_api_version="v24.0",
        backoff_base_s=0.02,
        backoff_max_s=0.2,
        http_timeout_s=2.0,
        stopped_page_probe_s=0.3,
        max_attempts=8,
        session_timeout_s=2.0,
        consumer_group=f"sender-{time.monotonic_ns()}",
    )
    return replace(base, sender=replace(section, **overrides))


def command(
    page_id: str, user: str, index: int, text: str | None = None, **fields: Any
) -> OutboundCommand:
    return OutboundCommand(
        command_id=command_id_for(f"evt-{page_id}-{user}-{index}", 0),
        page_id=page_id,
        recipient_id=user,
        conversation_id=f"{page_id}:{user}",
        created_at_ms=int(time.time() * 1000),
        message={"text": text or f"{user} #{index}"},
        **fields,
    )


async def produce(kafka: KafkaSettings, commands: Iterable[OutboundCommand]) -> None:
    producer = new_producer(kafka)
    await producer.start()
    try:
        futures = [
            await producer.send(kafka.topic("outbound"), c.encode(), key=c.conversation_id.encode())
            for c in commands
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def produce_raw(kafka: KafkaSettings, key: bytes, value: bytes) -> None:
    producer = new_producer(kafka)
    await producer.start()
    try:
        await producer.send_and_wait(kafka.topic("outbound"), value, key=key)
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def running_sender(settings: Settings, pages: PagesConfig) -> AsyncIterator[Sender]:
    sender = Sender(settings, pages)
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    await wait_for(lambda: sender.ready or task.done(), "sender ready")
    if task.done():
        task.result()
    try:
        yield sender
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@contextlib.asynccontextmanager
async def sandbox_and_url(pages: PagesConfig) -> AsyncIterator[tuple[Sandbox, str]]:
    sandbox = sandbox_for(pages)
    async with serving(sandbox) as url:
        yield sandbox, url


async def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def command_ids(messages: list[dict[str, Any]]) -> list[str]:
    """Command id of each received message, from the metadata the sender sets."""
    return [m["metadata"].split(":")[1] for m in messages if m.get("metadata")]


def sent_messages(sandbox: Sandbox, page_id: str = "") -> list[dict[str, Any]]:
    return [m for m in sandbox.store.select(page_id) if m["message_id"]]


async def deliveries(kafka: KafkaSettings, expected: int | None = None) -> list[DeliveryResult]:
    facts = [decode_fact(r.value) for r in await read_topic(kafka, "analytics", expected)]
    return [f for f in facts if isinstance(f, DeliveryResult)]


async def dead_letters(kafka: KafkaSettings, expected: int | None = None) -> list[DeadLetter]:
    return [decode_dead_letter(r.value) for r in await read_topic(kafka, "dlq", expected)]


async def set_faults(url: str, faults: list[dict[str, Any]]) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.put(f"{url}/sandbox/faults", content=orjson.dumps(faults))
        response.raise_for_status()
