"""Run the processors: the faust app in this event loop, the pages watcher beside it."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

import httpx

from hookstream.runtime.errors import ConfigError
from hookstream.runtime.kafka import ensure_topics, wait_for_broker
from hookstream.runtime.logging import event, get_logger
from hookstream.runtime.settings import Settings
from processors.app import ProcessorsApp
from processors.batch import BatchProcessor
from processors.core import Processor
from processors.llm import LlmResponder
from processors.metrics import ProcessorMetrics
from processors.pages_watch import PagesWatcher

log = get_logger("processors")


class ProcessorsService:
    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.metrics = ProcessorMetrics.create()
        self.pages = PagesWatcher(settings.pages_file, environ or os.environ)
        self.http = httpx.AsyncClient()
        self.llm = LlmResponder(
            self.http, settings.processors.llm_timeout_s, on_failure=self.metrics.llm_failures.inc
        )
        processor = Processor(settings.processors, self.pages.current, self.llm)
        self.runtime = ProcessorsApp(settings, BatchProcessor(processor, self.metrics))
        Path(self.runtime.app.conf.datadir).mkdir(parents=True, exist_ok=True)
        self.started = False

    def ready(self) -> bool:
        return self.started and not self.runtime.app.should_stop

    async def watch_pages(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.processors.pages_poll_s)
            try:
                if self.pages.check():
                    self.metrics.pages_reloads.labels("ok").inc()
            except ConfigError:
                self.metrics.pages_reloads.labels("failed").inc()

    async def run(self, stop: asyncio.Event) -> None:
        await wait_for_broker(self.settings.kafka)
        await ensure_topics(self.settings.kafka)
        app = self.runtime.app
        await app.start()
        self.started = True
        event(
            log,
            "processors_started",
            group=app.conf.id,
            member=self.runtime.instance_id or "dynamic",
            pages=len(self.pages.current().pages),
            suspects=len(self.runtime.guard.suspects),
            quarantined=len(self.runtime.guard.quarantined),
        )
        watcher = asyncio.create_task(self.watch_pages(stop))
        crashed = asyncio.create_task(app.wait_until_stopped())
        try:
            await asyncio.wait(
                {asyncio.create_task(stop.wait()), crashed}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            watcher.cancel()
            if app.crash_reason is None:
                self.runtime.leave_on_stop()
            await app.stop()
            self.runtime.close(crashed=app.crash_reason is not None)
            await self.http.aclose()
        if app.crash_reason is not None:
            raise app.crash_reason
        event(log, "processors_stopped")
