"""`hookstream trace <id>`: the path of one message through the pipeline.

    hookstream trace m_AbC123                  # a Meta message id (mid)
    hookstream trace message:m_AbC123          # an event id
    hookstream trace cmd_3f2a...               # a command id
    hookstream trace 1001:u42 --since 2h       # a conversation
    hookstream trace m_AbC123 --json

Read from the ClickHouse facts (through a running sink while it holds the embedded engine).
"""

from __future__ import annotations

import argparse
import sys
import time

import orjson

from hookstream.cli._common import add_sink_url_option
from hookstream.ops.analytics_source import AnalyticsUnavailable, read_analytics
from hookstream.ops.trace import as_json, found, render_timeline
from hookstream.runtime.clickhouse import ClickHouseUnavailable, parse_clickhouse_url
from hookstream.runtime.settings import Settings
from sinks.trace import BadTraceId, TraceQuery, fetch_trace

DAY_MS = 86_400_000


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("trace", help="the path of one message, command or conversation")
    parser.add_argument("id", help="a Meta mid, an event id, a command id, or <page_id>:<user_id>")
    parser.add_argument(
        "--days", type=int, default=7, help="how many days back to look (default 7)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    add_sink_url_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    target = parse_clickhouse_url(settings.sink.clickhouse_url)
    now_ms = int(time.time() * 1000)
    days = max(1, min(args.days, 3650))
    try:
        query = TraceQuery.parse(args.id, now_ms - days * DAY_MS, now_ms + 60_000)
        params: dict[str, str | int] = {
            "id": query.id,
            "since_ms": query.since_ms,
            "until_ms": query.until_ms,
        }
        facts = read_analytics(
            target,
            args.sink_url or settings.sink.query_url,
            "/api/trace",
            params,
            lambda client: fetch_trace(client, target.database, query),
        )
    except (BadTraceId, AnalyticsUnavailable, ClickHouseUnavailable) as exc:
        print(f"hookstream trace: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, BadTraceId) else 1
    if not found(facts):
        print(f"hookstream trace: no such message in the last {days} days: {query.id}")
        return 1
    if args.json:
        print(orjson.dumps(as_json(facts), option=orjson.OPT_INDENT_2).decode())
    else:
        print(render_timeline(facts))
    return 0
