"""Processors integration tests: workers (and an ingress) as real subprocesses on the embedded
broker, so a test can SIGKILL one mid-stream and restart it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hookstream.embedded import processes
from hookstream.runtime.kafka import new_consumer, new_producer
from hookstream.runtime.settings import KafkaSettings
from ingress.signature import sign
from tests.conftest import TEST_SECRET, TEST_VERIFY_TOKEN
from tests.support.fake_llm import free_port

PAGE = "1001"
PAGES_YAML = """\
pages:
  "1001":
    rules:
      - name: pricing
        match: {keywords: [price]}
        reply: {text: "Plans start at 9 EUR."}
    fallback: {text: "Thanks!"}
"""


def service_env(kafka: KafkaSettings, tmp: Path) -> dict[str, str]:
    pages = tmp / "pages.yaml"
    pages.write_text(PAGES_YAML)
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("HOOKSTREAM_", "KAFKA_"))},
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_ENABLE_IDEMPOTENCE": "false",
        "HOOKSTREAM_TOPIC_PREFIX": kafka.topic_prefix,
        "KAFKA_PARTITIONS": str(kafka.partitions),
        "HOOKSTREAM_PAGES_FILE": str(pages),
        "HOOKSTREAM_STATE_DIR": str(tmp / "state"),
        "HOOKSTREAM_PROCESSORS_RATE_LIMIT_COUNT": "1000000",
        "HOOKSTREAM_PROCESSORS_SESSION_TIMEOUT_S": "6",
        "HOOKSTREAM_PROCESSORS_BATCH_WITHIN_S": "0.02",
        "HOOKSTREAM_PROCESSORS_PAGES_POLL_S": "0.2",
        "HOOKSTREAM_APP_SECRETS": TEST_SECRET,
        "HOOKSTREAM_VERIFY_TOKEN": TEST_VERIFY_TOKEN,
        "HOOKSTREAM_LOG_FORMAT": "text",
    }


CRASH_TEXT = "CRASH-THE-WORKER"
# `python -c CRASHING_WORKER processors ...`: the processors CLI with one planted fault, a worker
# that dies (os._exit, as if killed by the record) when it processes a message with CRASH_TEXT.
CRASHING_WORKER = "from tests.support.processors_rig import crashing_main; crashing_main()"


def crashing_main() -> None:
    import os

    from hookstream.cli import main
    from processors.core import NO_ORIGIN, Origin, Outcome, Processor
    from processors.state import ConversationState
    from schemas.messages import NormalizedMessage

    process = Processor.process

    async def crash_on_poison(
        self: Processor,
        state: ConversationState,
        message: NormalizedMessage,
        now_ms: int,
        origin: Origin = NO_ORIGIN,
    ) -> Outcome:
        if CRASH_TEXT in message.text:
            os._exit(70)
        return await process(self, state, message, now_ms, origin)

    Processor.process = crash_on_poison  # type: ignore[method-assign]
    sys.exit(main(sys.argv[1:]))


@dataclass
class Service:
    name: str
    env: dict[str, str]
    log_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    launcher: tuple[str, ...] = ("-m", "hookstream")  # CRASHING_WORKER: ("-c", CRASHING_WORKER)

    def start(self) -> Service:
        self.starts += 1
        argv = [
            sys.executable,
            *self.launcher,
            self.name.split("-")[0],
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        with self.log_path.open("wb") as log:  # the child keeps its own descriptor
            self.process = processes.spawn(argv, env=self.env, stdout=log, stderr=log)
        return self

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}-{self.port}-{self.starts}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.process is None or self.process.poll() is not None:
                    raise AssertionError(f"{self.name} exited: {self.log_path.read_text()[-3000:]}")
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"{self.name} not ready within {timeout_s}s")

    async def metric(self, line_start: str) -> float | None:
        """The value of the first /metrics line starting with `line_start`, if any."""
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"{self.url}/metrics")).text
        for line in text.splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
        return None

    async def exited(self, timeout_s: float = 90.0) -> int:
        """The exit code, once the process ended by itself; AssertionError at the deadline."""
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while (code := self.process.poll()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} still running after {timeout_s}s")
            await asyncio.sleep(0.2)
        return code

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no goodbye, no commit
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            processes.stop(self.process)


def text_event(
    user: str, seq: int, text: str = "what price?", mid: str | None = None, at_ms: int | None = None
) -> dict[str, Any]:
    return {
        "sender": {"id": user},
        "recipient": {"id": PAGE},
        "timestamp": at_ms or int(time.time() * 1000),
        "message": {"mid": mid or f"m-{user}-{seq}", "text": f"{text} #{seq}"},
    }


def webhook_body(events: list[dict[str, Any]]) -> bytes:
    import orjson

    return orjson.dumps(
        {
            "object": "page",
            "entry": [{"id": PAGE, "time": int(time.time() * 1000), "messaging": events}],
        }
    )


async def post_webhooks(ingress_url: str, bodies: list[bytes]) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        for body in bodies:
            response = await client.post(
                f"{ingress_url}/webhook",
                content=body,
                headers={
                    "X-Hub-Signature-256": sign(body, TEST_SECRET),
                    "Content-Type": "application/json",
                },
            )
            assert response.status_code == 200, response.text


async def produce(kafka: KafkaSettings, records: list[tuple[bytes, bytes]]) -> None:
    producer = new_producer(kafka)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(kafka.topic("inbound"), value, key=key)
    finally:
        await producer.stop()


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def collect(
    kafka: KafkaSettings,
    topic: str,
    done: Callable[[list[Any]], bool],
    timeout_s: float = 90.0,
    settle_s: float = 1.0,
) -> list[Any]:
    """Read a topic from the start until `done(records)`, then `settle_s` more (to catch any
    late duplicates); AssertionError at the deadline."""
    consumer = new_consumer(kafka, kafka.topic(topic), group_id=None)
    await consumer.start()
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    settle_until: float | None = None
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                records.extend(messages)
            if settle_until is None and done(records):
                settle_until = time.monotonic() + settle_s
            if settle_until is not None and time.monotonic() >= settle_until:
                return records
    finally:
        await consumer.stop()
    raise AssertionError(f"{topic}: condition not met within {timeout_s}s ({len(records)} read)")
