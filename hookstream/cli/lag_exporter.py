"""`hookstream lag-exporter`: consumer lag of the pipeline's groups on /metrics (port 9308)."""

from __future__ import annotations

import argparse
import asyncio

from hookstream.cli._common import add_listen_options
from hookstream.ops.collect import LagCollector
from hookstream.ops.exporter import LagState, collect_forever
from hookstream.ops.exporter import register as register_metrics
from hookstream.ops.tracker import StatusTracker
from hookstream.runtime.metrics import new_registry
from hookstream.runtime.service import ServiceHttp, run_service
from hookstream.runtime.services_table import port_of
from hookstream.runtime.settings import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("lag-exporter", help="export consumer lag to Prometheus")
    add_listen_options(parser, port_of("lag-exporter"))
    parser.set_defaults(run=run)


async def serve(args: argparse.Namespace, settings: Settings) -> None:
    ops = settings.ops
    state = LagState()
    registry = new_registry()
    register_metrics(registry, state)
    collector = LagCollector(settings.kafka, ops.lag_topics, ops.extra_groups)

    async def work(stop: asyncio.Event) -> None:
        await collector.start()
        try:
            await collect_forever(
                collector, StatusTracker(ops.status_window_s), state, ops.lag_interval_s, stop
            )
        finally:
            await collector.close()

    http = ServiceHttp(args.host, args.port, registry, ready=lambda: state.snapshot is not None)
    await run_service(http, work)


def run(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(serve(args, settings))
    return 0
