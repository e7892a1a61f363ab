"""`hookstream processors`: the faust-streaming processors, /healthz and /metrics on --port."""

from __future__ import annotations

import argparse
import asyncio
import os

from hookstream.cli._common import add_listen_options
from hookstream.runtime.service import ServiceHttp, run_service
from hookstream.runtime.services_table import port_of
from hookstream.runtime.settings import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("processors", help="process inbound events into replies + facts")
    add_listen_options(parser, port_of("processors"))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from processors.runner import ProcessorsService  # faust is heavy: import only when used

    async def main() -> None:
        service = ProcessorsService(settings, os.environ)
        http = ServiceHttp(args.host, args.port, service.metrics.registry, service.ready)
        await run_service(http, service.run)

    asyncio.run(main())
    return 0
