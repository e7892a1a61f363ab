"""What the console shows, fetched from where the pipeline keeps it.

- per page figures: ClickHouse minute rollups (through a running sink while it holds the
  embedded engine), `sinks.overview`;
- which pages the sender holds stopped or throttled: the sender's own /metrics;
- consumer groups: lag and Burrow status, collected like `hookstream lag`, kept fresh in the
  background while the console runs;
- traces: `sinks.trace`; dead letters and their redrive: the `dlq` topic, as `hookstream dlq`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from hookstream.ops.analytics_source import read_analytics
from hookstream.ops.collect import LagCollector, Snapshot
from hookstream.ops.status import Status
from hookstream.ops.tracker import StatusTracker
from hookstream.runtime.clickhouse import parse_clickhouse_url
from hookstream.runtime.settings import Settings
from sinks.overview import page_overview
from sinks.stats import StatsRange
from sinks.trace import TraceQuery, fetch_trace

DAY_MS = 86_400_000


@dataclass(frozen=True)
class SenderPages:
    """The sender's view of each page it has seen: stopped, and the send rate it allows."""

    reachable: bool
    stopped: dict[str, bool] = field(default_factory=dict)
    rate: dict[str, float] = field(default_factory=dict)


def parse_sender_metrics(text: str) -> SenderPages:
    stopped: dict[str, bool] = {}
    rate: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            page = sample.labels.get("page_id")
            if page is None:
                continue
            if sample.name == "hookstream_sender_page_stopped":
                stopped[page] = sample.value >= 1
            elif sample.name == "hookstream_sender_page_rate":
                rate[page] = sample.value
    return SenderPages(True, stopped, rate)


@dataclass
class ConsoleSources:
    settings: Settings
    lag: tuple[Snapshot, dict[str, Status]] | None = None
    lag_error: str = ""
    _collector: LagCollector | None = None
    _tracker: StatusTracker = field(init=False)

    def __post_init__(self) -> None:
        self._tracker = StatusTracker(self.settings.ops.status_window_s)

    @property
    def target(self) -> Any:
        return parse_clickhouse_url(self.settings.sink.clickhouse_url)

    async def sender_pages(self) -> SenderPages:
        url = f"{self.settings.console.sender_url}/metrics"
        try:
            async with httpx.AsyncClient(timeout=3.0) as client:
                answer = await client.get(url)
        except httpx.HTTPError:
            return SenderPages(False)
        if answer.status_code != 200:
            return SenderPages(False)
        return parse_sender_metrics(answer.text)

    async def page_figures(self, now_ms: int) -> dict[str, Any]:
        minutes = max(1, self.settings.console.window_minutes)
        rng = StatsRange(now_ms - minutes * 60_000, now_ms)
        target = self.target
        params: dict[str, str | int] = {"from_ms": rng.from_ms, "to_ms": rng.to_ms}
        return await asyncio.to_thread(
            read_analytics,
            target,
            self.settings.sink.query_url,
            "/api/overview",
            params,
            lambda client: page_overview(client, target.database, rng),
        )

    async def trace(self, query: TraceQuery) -> dict[str, Any]:
        target = self.target
        params: dict[str, str | int] = {
            "id": query.id,
            "since_ms": query.since_ms,
            "until_ms": query.until_ms,
        }
        return await asyncio.to_thread(
            read_analytics,
            target,
            self.settings.sink.query_url,
            "/api/trace",
            params,
            lambda client: fetch_trace(client, target.database, query),
        )

    def trace_query(self, text: str) -> TraceQuery:
        now_ms = int(time.time() * 1000)
        since = now_ms - self.settings.console.lookback_days * DAY_MS
        return TraceQuery.parse(text, since, now_ms + 60_000)

    async def refresh_lag(self) -> None:
        ops = self.settings.ops
        if self._collector is None:
            collector = LagCollector(self.settings.kafka, ops.lag_topics, ops.extra_groups)
            await collector.start()
            self._collector = collector
        snapshot = await self._collector.collect()
        self.lag = (snapshot, self._tracker.observe(snapshot))
        self.lag_error = ""

    async def keep_lag_fresh(self, stop: asyncio.Event) -> None:
        """Collect every lag interval until stopped; a broker outage is shown, not raised."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(self.refresh_lag(), timeout=30)
            except Exception as exc:  # noqa: BLE001 - shown on the page, tried again
                self.lag_error = f"{type(exc).__name__}: {str(exc)[:200]}"
            try:
                await asyncio.wait_for(stop.wait(), self.settings.ops.lag_interval_s)
            except TimeoutError:
                pass

    async def close(self) -> None:
        if self._collector is not None:
            await self._collector.close()
            self._collector = None
