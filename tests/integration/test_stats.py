"""`hookstream stats` numbers against a hand count, through the real sink and chDB; and the
sink's read-only endpoint answering while it holds the embedded engine."""

from __future__ import annotations

import argparse
import asyncio
import socket

import orjson
import pytest
from clickhouse_connect.driver.client import Client

from hookstream.cli import stats as stats_cli
from hookstream.ops.analytics_source import AnalyticsUnavailable, ask_sink
from hookstream.runtime.clickhouse import parse_clickhouse_url
from hookstream.runtime.metrics import new_registry
from hookstream.runtime.service import ServiceHttp, run_service
from hookstream.runtime.settings import KafkaSettings
from sinks.api import stats_route
from sinks.service import AnalyticsSink
from sinks.stats import StatsRange, compute_stats
from tests.support.sink_rig import (
    BASE_MS,
    FAST_GROUP,
    dead,
    delivery,
    encoded,
    message,
    poll,
    produce,
    reply,
    scalar,
    sink_settings,
)

pytestmark = pytest.mark.integration
MIN = 60_000


def known_input() -> list:  # type: ignore[type-arg]
    """Two minutes of page s1 (what the hand count covers), page s2 and a later minute (not)."""
    facts: list = []  # type: ignore[type-arg]
    for i, ms in enumerate([100, 500, 1500, 2500, 3000, 200]):  # 4 of 6 within 2 s
        facts.append(message(i, "s1", "message", BASE_MS + (i % 2) * MIN, processing_ms=ms))
    facts += [message(10 + i, "s1", "postback", BASE_MS + 5_000) for i in range(2)]
    facts += [reply(i, "s1", BASE_MS, plan_ms=10 * (i + 1)) for i in range(4)]
    facts += [delivery(i, "s1", BASE_MS, e2e_ms=100 * (i + 1)) for i in range(4)]
    facts.append(delivery(4, "s1", BASE_MS, e2e_ms=900, status="retried", code=2))
    facts.append(
        delivery(5, "s1", BASE_MS, e2e_ms=900, status="dead_lettered", code=100, subcode=2018001)
    )
    facts += [dead(i, "s1", BASE_MS + MIN) for i in range(3)]
    facts += [message(50 + i, "s2", "reaction", BASE_MS) for i in range(5)]
    facts += [message(60, "s1", "message", BASE_MS + 5 * MIN)]  # outside the range
    return facts


HAND_COUNT = {
    "page_id": "s1",
    "minutes": 2,
    "covered_minutes": 2,
    "first_minute_ms": BASE_MS,
    "last_minute_ms": BASE_MS + MIN,
    "events": 8,
    "events_per_min": {"message": 3.0, "postback": 1.0},
    "events_by_kind": {"message": 6, "postback": 2},
    "share_processed_within_2s": 0.75,
    "replies_planned": 4,
    "plan_latency_ms": {"p50": 25.0, "p95": 38.5, "p99": 39.7},
    "reply_latency_ms": {"p50": 250.0, "p95": 385.0, "p99": 397.0},
    "share_replies_within_2s": 1.0,
    "delivery_outcomes": 6,
    "delivery_errors": 2,
    "delivery_error_rate": round(2 / 6, 6),
    "delivery_error_rate_by_code": {"100/2018001": round(1 / 6, 6), "2/0": round(1 / 6, 6)},
    "dlq_count": 3,
}
RANGE = StatsRange(BASE_MS, BASE_MS + 2 * MIN, "s1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def without_range(stats: dict) -> dict:  # type: ignore[type-arg]
    return {k: v for k, v in stats.items() if k not in ("from_ms", "to_ms")}


async def test_stats_match_a_hand_count_directly_and_through_the_sink(
    kafka_settings: KafkaSettings,
    chdb_url: str,
    ch: Client,
    capsys: pytest.CaptureFixture[str],
) -> None:
    facts = known_input()
    await produce(kafka_settings, encoded(facts))
    settings = sink_settings(kafka_settings, chdb_url)
    sink = AnalyticsSink(settings, new_registry(), consumer_options=FAST_GROUP)
    port = free_port()
    http = ServiceHttp(
        "127.0.0.1", port, sink.registry, sink.ready, [stats_route(sink.with_client, "hookstream")]
    )
    service = asyncio.create_task(run_service(http, sink.run))
    try:
        stored = {"messages": 14, "replies": 4, "deliveries": 6, "dead_letters": 3}
        await poll(
            lambda: all(
                scalar(ch, f"SELECT count() FROM hookstream.{table}") >= n  # noqa: S608
                for table, n in stored.items()
            ),
            what="facts stored",
        )
        assert without_range(compute_stats(ch, "hookstream", RANGE)) == HAND_COUNT
        url = f"http://127.0.0.1:{port}"
        via_sink = await asyncio.to_thread(
            ask_sink, url, "/api/stats", stats_cli.range_params(RANGE)
        )
        assert via_sink is not None and without_range(via_sink) == HAND_COUNT
        args = argparse.Namespace(
            from_=str(RANGE.from_ms), to=str(RANGE.to_ms), page="s1", json=True, sink_url=url
        )
        assert await asyncio.to_thread(stats_cli.run, args, settings) == 0
        answer = orjson.loads(capsys.readouterr().out)
        assert answer.pop("window") == "2026-01-01 00:00:00 to 2026-01-01 00:02:00 UTC"
        assert without_range(answer) == HAND_COUNT

        # A ten-minute window around a burst inside one minute: the rate is that minute's,
        # not the events spread over ten minutes; the text says both lengths.
        burst = StatsRange(BASE_MS + 3 * MIN, BASE_MS + 13 * MIN, "s1")  # only the minute-5 one
        counted = compute_stats(ch, "hookstream", burst)
        assert (counted["minutes"], counted["covered_minutes"], counted["events"]) == (10, 1, 1)
        assert counted["events_per_min"] == {"message": 1.0}
        args = argparse.Namespace(
            from_=str(burst.from_ms), to=str(burst.to_ms), page="s1", json=False, sink_url=url
        )
        assert await asyncio.to_thread(stats_cli.run, args, settings) == 0
        text = capsys.readouterr().out
        assert "window: 2026-01-01 00:03:00 to 2026-01-01 00:13:00 UTC" in text
        assert "1 events (1 min with data)" in text
    finally:
        service.cancel()
        await asyncio.gather(service, return_exceptions=True)
    # No sink listening any more: stats opens the engine itself.
    target = parse_clickhouse_url(chdb_url)
    direct = stats_cli.fetch(target, f"http://127.0.0.1:{free_port()}", RANGE)
    assert without_range(direct) == HAND_COUNT
    everything = compute_stats(ch, "hookstream", StatsRange(BASE_MS, BASE_MS + 2 * MIN))
    assert everything["events"] == 13 and everything["events_by_kind"]["reaction"] == 5


async def test_sink_endpoint_says_unavailable_before_it_has_connected(
    kafka_settings: KafkaSettings,
    chdb_url: str,
    ch: Client,
) -> None:
    sink = AnalyticsSink(
        sink_settings(kafka_settings, chdb_url), new_registry(), consumer_options=FAST_GROUP
    )
    with pytest.raises(AnalyticsUnavailable):
        # The sink has not connected yet: a clear refusal, not a hang or a traceback.
        port = free_port()
        http = ServiceHttp(
            "127.0.0.1",
            port,
            sink.registry,
            sink.ready,
            [stats_route(sink.with_client, "hookstream")],
        )
        server = asyncio.create_task(run_service(http, _idle))
        try:
            await poll(lambda: _listening(port), what="endpoint up")
            await asyncio.to_thread(
                ask_sink, f"http://127.0.0.1:{port}", "/api/stats", stats_cli.range_params(RANGE)
            )
        finally:
            server.cancel()
            await asyncio.gather(server, return_exceptions=True)


async def _idle(stop: asyncio.Event) -> None:
    await stop.wait()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
