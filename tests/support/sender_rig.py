"""Helpers of the sender's integration tests: pages, commands, an in-process sender and sandbox.

Imported by tests/integration/test_sender_*.py (not a pytest conftest: explicit imports).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import orjson

from hookstream.embedded.processes import free_port, spawn
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
    """Fast retries (within a 20 s budget), a short session (faster group joins)."""
    section = SenderSettings(
        graph_api_base_url=url,
        graph_api_version="v24.0",
        backoff_base_s=0.02,
        backoff_max_s=0.2,
        http_timeout_s=2.0,
        stopped_page_probe_s=0.3,
        retry_budget_s=20.0,
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


def first_seen_order(messages: list[dict[str, object]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = collections.defaultdict(list)
    for cid, message in zip(command_ids(messages), messages, strict=True):
        key = f"{message['page_id']}:{message['recipient_id']}"
        if cid not in grouped[key]:
            grouped[key].append(cid)
    return dict(grouped)


def expected_order(commands: list[OutboundCommand]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = collections.defaultdict(list)
    for c in commands:
        grouped[c.conversation_id].append(c.command_id)
    return dict(grouped)


class SenderProcess:
    """`hookstream sender` as a child process (so that it can be killed with SIGKILL)."""

    def __init__(
        self,
        settings: Settings,
        url: str,
        pages_file: Path,
        log: Path,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("HOOKSTREAM_", "KAFKA_"))},
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
            "HOOKSTREAM_TOPIC_PREFIX": settings.kafka.topic_prefix,
            "KAFKA_PARTITIONS": str(settings.kafka.partitions),
            "KAFKA_ENABLE_IDEMPOTENCE": "false",
            "GRAPH_API_BASE_URL": url,
            "HOOKSTREAM_PAGES_FILE": str(pages_file),
            "PAGE_A_TOKEN": TOKENS[PAGE_A],
            "HOOKSTREAM_SENDER_CONSUMER_GROUP": "killed-sender",
            "HOOKSTREAM_SENDER_SESSION_TIMEOUT_S": "2",
            "HOOKSTREAM_SENDER_BACKOFF_BASE_S": "0.02",
            "HOOKSTREAM_SENDER_BACKOFF_MAX_S": "0.2",
            "HOOKSTREAM_SENDER_STOPPED_PAGE_PROBE_S": "0.3",
            **(extra_env or {}),
        }
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = spawn(
                [sys.executable, "-m", "hookstream", "sender", "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=out,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)

    async def metric(self, prefix: str) -> float:
        """A value of the sender's /metrics (-1 while it does not answer)."""
        try:
            async with httpx.AsyncClient() as client:
                text = (await client.get(f"http://127.0.0.1:{self.port}/metrics")).text
        except httpx.HTTPError:
            return -1.0
        for line in text.splitlines():
            if line.startswith(prefix):
                return float(line.split()[-1])
        return 0.0

    async def delivered(self) -> float:
        return await self.metric('hookstream_sender_commands_total{outcome="delivered"}')

    async def idle(self) -> bool:
        return await self.metric("hookstream_sender_in_flight ") == 0


async def settled(sandbox: Sandbox, quiet_s: float = 1.0, timeout_s: float = 15.0) -> None:
    """Wait until the sandbox has accepted nothing new for `quiet_s`."""
    deadline = time.monotonic() + timeout_s
    count, since = len(sent_messages(sandbox)), time.monotonic()
    while time.monotonic() - since < quiet_s:
        assert time.monotonic() < deadline, "the sandbox kept receiving after the kill"
        await asyncio.sleep(0.1)
        if len(sent_messages(sandbox)) != count:
            count, since = len(sent_messages(sandbox)), time.monotonic()


async def wait_for_async(
    check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def texts_by_conversation(messages: list[dict[str, object]]) -> dict[str, list[object]]:
    grouped: dict[str, list[object]] = collections.defaultdict(list)
    for message in messages:
        grouped[f"{message['page_id']}:{message['recipient_id']}"].append(message["text"])
    return dict(grouped)


def expected_texts(commands: list[OutboundCommand]) -> dict[str, list[object]]:
    grouped: dict[str, list[object]] = collections.defaultdict(list)
    for c in commands:
        grouped[c.conversation_id].append((c.message or {}).get("text"))
    return dict(grouped)
