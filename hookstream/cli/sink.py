"""`hookstream sink`: the analytics sink (Kafka `analytics` -> ClickHouse), with /healthz,
/readyz, /metrics and the read-only `/api/stats` that `hookstream stats` asks."""

from __future__ import annotations

import argparse
import asyncio

from hookstream.cli._common import add_listen_options
from hookstream.runtime.clickhouse import parse_clickhouse_url
from hookstream.runtime.metrics import new_registry
from hookstream.runtime.service import ServiceHttp, run_service
from hookstream.runtime.services_table import port_of
from hookstream.runtime.settings import Settings
from sinks.api import overview_route, stats_route, trace_route
from sinks.service import AnalyticsSink
from sinks.tuning import tune_gc


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("sink", help="write analytics facts into ClickHouse")
    add_listen_options(parser, port_of("sink"))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    target = parse_clickhouse_url(settings.sink.clickhouse_url)  # ConfigError -> exit 2
    registry = new_registry()

    async def main() -> None:
        tune_gc()
        sink = AnalyticsSink(settings, registry)
        routes = [
            stats_route(sink.with_client, target.database),
            trace_route(sink.with_client, target.database),
            overview_route(sink.with_client, target.database),
        ]
        await run_service(ServiceHttp(args.host, args.port, registry, sink.ready, routes), sink.run)

    asyncio.run(main())
    return 0
