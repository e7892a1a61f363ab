"""`hookstream stats`: the headline numbers from ClickHouse for a time range (and a page).

    hookstream stats                          # the last 10 minutes, all pages
    hookstream stats --since 2h --page 1001   # the last two hours of page 1001
    hookstream stats --from 2026-01-01T00:00 --to 2026-01-02T00:00 --json

Rates are per minute over the minutes that hold data (a 10 s burst is one minute of data, not
an hour's average); the output says how long the window is and how much of it has data.

With the embedded engine (`chdb://...`), a running sink holds the engine, so stats asks the
sink's read-only `/api/stats` first and opens the engine itself only when no sink answers.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from hookstream.cli._common import add_sink_url_option, stack_of
from hookstream.ops.analytics_source import AnalyticsUnavailable, read_analytics
from hookstream.runtime.clickhouse import (
    ClickHouseTarget,
    ClickHouseUnavailable,
    parse_clickhouse_url,
)
from hookstream.runtime.settings import Settings
from sinks.stats import StatsRange, compute_stats, render_text

_RELATIVE = re.compile(r"^-?(\d+(?:\.\d+)?)([smhd])$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_time(text: str, now_ms: int) -> int:
    """`now`, a duration ago (`15m`, `2h`, `7d`), epoch milliseconds, or ISO 8601 (UTC if naive)."""
    text = text.strip()
    if text == "now":
        return now_ms
    relative = _RELATIVE.match(text)
    if relative:
        return now_ms - int(float(relative.group(1)) * _UNIT_MS[relative.group(2)])
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


DEFAULT_SINCE = "10m"


def stats_range(args: argparse.Namespace, now_ms: int) -> StatsRange:
    start = args.from_ or f"{getattr(args, 'since', None) or DEFAULT_SINCE}"
    if not args.from_ and not _RELATIVE.match(start.strip()):
        raise argparse.ArgumentTypeError(f"--since takes a duration like 10m, 2h, 7d: {start!r}")
    from_ms, to_ms = parse_time(start, now_ms), parse_time(args.to, now_ms)
    if to_ms <= from_ms:
        raise argparse.ArgumentTypeError("--to must be after --from")
    return StatsRange(from_ms, to_ms, args.page or None)


def _clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def since_stack_start(rng: StatsRange, started_at_ms: int) -> StatsRange:
    """The embedded broker starts empty: by default, count only what this stack saw (pure)."""
    if started_at_ms <= rng.from_ms or started_at_ms >= rng.to_ms:
        return rng
    return StatsRange(started_at_ms, rng.to_ms, rng.page_id)


def describe_window(args: argparse.Namespace, rng: StatsRange, started: bool = False) -> str:
    """The window in words: `last 10m (...)` or the explicit range (pure)."""
    span = f"{_clock(rng.from_ms)} to {_clock(rng.to_ms)} UTC"
    if started:
        return f"since this stack started ({span}; --since or --from for earlier runs)"
    if not args.from_ and args.to == "now":
        return f"last {getattr(args, 'since', None) or DEFAULT_SINCE} ({span})"
    return span


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("stats", help="headline analytics numbers from ClickHouse")
    parser.add_argument(
        "--since",
        default=None,
        help=f"the window: a duration ago like 10m/2h/7d (default {DEFAULT_SINCE})",
    )
    parser.add_argument(
        "--from",
        dest="from_",
        default="",
        help="start instead of --since: ISO time, epoch ms, or a duration ago",
    )
    parser.add_argument("--to", default="now", help="end (default now)")
    parser.add_argument("--page", default="", help="only this page id")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    add_sink_url_option(parser)
    parser.set_defaults(run=run)


def range_params(rng: StatsRange) -> dict[str, str | int]:
    """The window as the sink's `/api/stats` takes it."""
    return {"from_ms": rng.from_ms, "to_ms": rng.to_ms, "page": rng.page_id or ""}


def fetch(target: ClickHouseTarget, sink_url: str, rng: StatsRange) -> dict[str, Any]:
    """The numbers of the window: from the running sink, else from the engine itself."""
    return read_analytics(
        target,
        sink_url,
        "/api/stats",
        range_params(rng),
        lambda client: compute_stats(client, target.database, rng),
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    target = parse_clickhouse_url(settings.sink.clickhouse_url)
    stack = stack_of(args)
    try:
        rng = stats_range(args, int(time.time() * 1000))
        windowed = rng
        explicit = args.from_ or getattr(args, "since", None)
        if stack is not None and stack.broker == "embedded" and not explicit:
            rng = since_stack_start(rng, stack.started_at_ms)
        stats = fetch(target, args.sink_url or settings.sink.query_url, rng)
    except (argparse.ArgumentTypeError, AnalyticsUnavailable, ClickHouseUnavailable) as exc:
        print(f"hookstream stats: {exc}", file=sys.stderr)
        return 1
    window = describe_window(args, rng, started=rng != windowed)
    if args.json:
        print(orjson.dumps({**stats, "window": window}, option=orjson.OPT_INDENT_2).decode())
        return 0
    print(f"window: {window}")
    print(render_text(stats))
    if stats["events"] == 0:
        print("no events in this window; a longer one: hookstream stats --since 1h")
    return 0
