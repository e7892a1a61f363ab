from __future__ import annotations

import argparse

import pytest

from hookstream.cli.stats import parse_time, stats_range
from sinks.api import parse_range
from sinks.stats import StatsRange, render_text

NOW = 1_767_225_600_000


def test_parse_time_forms() -> None:
    assert parse_time("now", NOW) == NOW
    assert parse_time("15m", NOW) == NOW - 15 * 60_000
    assert parse_time("-2h", NOW) == NOW - 7_200_000
    assert parse_time("1767225600000", NOW) == NOW
    assert parse_time("2026-01-01T00:00:00Z", NOW) == NOW
    assert parse_time("2026-01-01T01:00:00+01:00", NOW) == NOW
    assert parse_time("2026-01-01", NOW) == NOW  # naive means UTC
    with pytest.raises(argparse.ArgumentTypeError):
        parse_time("yesterday-ish", NOW)


def test_stats_range_from_args() -> None:
    rng = stats_range(argparse.Namespace(from_="1h", to="now", page="1001"), NOW)
    assert rng == StatsRange(NOW - 3_600_000, NOW, "1001") and rng.minutes == 60
    with pytest.raises(argparse.ArgumentTypeError):
        stats_range(argparse.Namespace(from_="now", to="1h", page=""), NOW)


def test_range_minutes_and_sql_parameters() -> None:
    rng = StatsRange(NOW + 30_000, NOW + 90_000)
    assert rng.minutes == 2
    assert "page" not in rng.parameters() and "page_id" not in rng.where()
    assert StatsRange(NOW, NOW + 1, "7").parameters()["page"] == "7"


def test_api_range_validation() -> None:
    assert parse_range({"from_ms": "1", "to_ms": "2", "page": ""}) == StatsRange(1, 2, None)
    for bad in ({}, {"from_ms": "x", "to_ms": "2"}, {"from_ms": "5", "to_ms": "2"}):
        with pytest.raises(ValueError):
            parse_range(bad)


def test_render_text_mentions_every_headline() -> None:
    stats = {
        "page_id": None,
        "minutes": 2,
        "events": 4,
        "events_per_min": {"message": 2.0},
        "share_processed_within_2s": 0.75,
        "reply_latency_ms": {"p50": 1.0, "p95": 2.0, "p99": None},
        "share_replies_within_2s": None,
        "plan_latency_ms": {"p50": None, "p95": None, "p99": None},
        "delivery_error_rate": 0.5,
        "delivery_outcomes": 2,
        "delivery_error_rate_by_code": {"100/0": 0.5},
        "dlq_count": 3,
    }
    text = render_text(stats)
    for needle in (
        "all pages",
        "message",
        "75.00%",
        "p50=1ms",
        "p99=n/a",
        "50.00%",
        "code 100/0",
        "dead letters:             3",
    ):
        assert needle in text
