"""The two measured runs: a pass-through faust agent and the processors' faust app."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import faust
from faust.types import EventT, StreamT

from hookstream.runtime.kafka import new_producer
from hookstream.runtime.settings import KafkaSettings, Settings
from ingress.splitter import split
from processors.app import ProcessorsApp, faust_app, raw_schema
from processors.batch import BatchProcessor
from processors.core import Processor
from processors.metrics import ProcessorMetrics
from processors.pages_watch import PagesWatcher

TEXTS = ("what is the price?", "hello there", "do you ship to Berlin?", "PRICE please")


def bodies(events: int, conversations: int, per_body: int = 50) -> list[dict[str, Any]]:
    now = int(time.time() * 1000)
    items = [
        {
            "sender": {"id": f"u{i % conversations}"},
            "recipient": {"id": "1001"},
            "timestamp": now + i,
            "message": {"mid": f"bm{i}", "text": TEXTS[i % 4]},
        }
        for i in range(events)
    ]
    return [
        {"object": "page", "entry": [{"id": "1001", "messaging": items[s : s + per_body]}]}
        for s in range(0, events, per_body)
    ]


async def preload(kafka: KafkaSettings, events: int, conversations: int) -> None:
    producer = new_producer(kafka, linger_ms=20)
    await producer.start()
    try:
        pending = []
        for body in bodies(events, conversations):
            for record in split(body, int(time.time() * 1000), "bench"):
                pending.append(
                    await producer.send(kafka.topic("inbound"), record.value, key=record.key)
                )
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


@dataclass
class Clock:
    expected: int
    seen: int = 0
    first: float = 0.0
    last: float = 0.0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    cpu_first: float = 0.0
    cpu_last: float = 0.0

    def count(self, n: int) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        if not self.first:
            self.first, self.cpu_first = now, cpu
        self.seen += n
        self.last, self.cpu_last = now, cpu
        if self.seen >= self.expected:
            self.done.set()

    @property
    def rate(self) -> float:
        return self.seen / max(self.last - self.first, 1e-9)

    @property
    def cpu_rate(self) -> float:
        """Events per second of this process's CPU: what one worker costs, whatever else runs
        on the machine (the broker is another process)."""
        return self.seen / max(self.cpu_last - self.cpu_first, 1e-9)


async def run_app(app: faust.App, clock: Clock, timeout_s: float) -> Clock:
    await app.start()
    try:
        await asyncio.wait_for(clock.done.wait(), timeout_s)
    finally:
        await app.stop()
    return clock


async def passthrough_rate(settings: Settings, events: int, round_: int = 0) -> Clock:
    """The baseline: the usual faust agent, one forwarded record per event."""
    app = faust_app(settings, app_id=settings.kafka.topic(f"bench-passthrough-{round_}"))
    source = app.topic(settings.kafka.topic("inbound"), schema=raw_schema())
    sink = app.topic(settings.kafka.topic("bench-passthrough-out"), schema=raw_schema())
    clock = Clock(events)

    async def forward(stream: StreamT[bytes]) -> None:
        async for key, value in stream.items():
            await sink.send(key=key, value=value)
            clock.count(1)

    app.agent(source, name="passthrough")(forward)
    return await run_app(app, clock, timeout_s=events / 200 + 60)


class CountingApp(ProcessorsApp):
    clock: Clock

    async def handle(self, events: Sequence[EventT[bytes]]) -> None:
        await super().handle(events)
        self.clock.count(len(events))


async def processors_rate(settings: Settings, events: int, round_: int = 0) -> Clock:
    group = settings.kafka.topic(f"bench-processors-{round_}")  # a fresh group reads it all
    settings = replace(settings, processors=replace(settings.processors, app_id=group))
    pages = PagesWatcher(settings.pages_file, {})
    processor = Processor(settings.processors, pages.current)
    runtime = CountingApp(settings, BatchProcessor(processor, ProcessorMetrics.create()))
    runtime.clock = Clock(events)
    try:
        return await run_app(runtime.app, runtime.clock, timeout_s=events / 200 + 60)
    finally:
        runtime.close(crashed=False)
