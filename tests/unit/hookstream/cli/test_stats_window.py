"""`hookstream stats` windows: --since by default, --from/--to when given (pure parts)."""

from __future__ import annotations

import argparse

import pytest

from hookstream.cli.stats import describe_window, since_stack_start, stats_range

NOW = 1_767_225_600_000 + 3_600_000  # 2026-01-01T01:00:00Z


def args(**values: str) -> argparse.Namespace:
    base = {"since": "10m", "from_": "", "to": "now", "page": ""}
    return argparse.Namespace(**{**base, **values})


def test_default_window_is_the_last_ten_minutes() -> None:
    rng = stats_range(args(), NOW)
    assert (rng.from_ms, rng.to_ms) == (NOW - 600_000, NOW)
    assert describe_window(args(), rng) == (
        "last 10m (2026-01-01 00:50:00 to 2026-01-01 01:00:00 UTC)"
    )


def test_since_and_explicit_range() -> None:
    assert stats_range(args(since="2h"), NOW).from_ms == NOW - 7_200_000
    explicit = args(from_="2026-01-01T00:00", to="2026-01-01T00:30")
    rng = stats_range(explicit, NOW)
    assert (rng.from_ms, rng.to_ms) == (NOW - 3_600_000, NOW - 1_800_000)
    assert describe_window(explicit, rng) == "2026-01-01 00:00:00 to 2026-01-01 00:30:00 UTC"


def test_since_must_be_a_duration() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="--since takes a duration"):
        stats_range(args(since="yesterday"), NOW)


def test_beside_a_fresh_embedded_stack_the_window_starts_with_it() -> None:
    rng = stats_range(args(since=""), NOW)
    started = NOW - 120_000
    fresh = since_stack_start(rng, started)
    assert (fresh.from_ms, fresh.to_ms) == (started, NOW)
    assert describe_window(args(since=""), fresh, started=True).startswith(
        "since this stack started (2026-01-01 00:58:00 to 2026-01-01 01:00:00 UTC"
    )
    assert since_stack_start(rng, NOW - 3_600_000) == rng  # started before the window
    assert since_stack_start(rng, 0) == rng  # unknown start
