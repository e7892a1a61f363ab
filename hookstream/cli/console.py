"""`hookstream console`: the operator's web console (overview, search, dead letters).

Bound to 127.0.0.1 by default, where its read-only pages need no key; on any other address
every page needs HOOKSTREAM_API_KEY. Actions (redrive) always need it.
"""

from __future__ import annotations

import argparse
import asyncio

from hookstream.cli._common import add_listen_options
from hookstream.console.app import Console
from hookstream.console.auth import Access, is_loopback
from hookstream.console.sources import ConsoleSources
from hookstream.runtime.metrics import new_registry
from hookstream.runtime.service import ServiceHttp, run_service
from hookstream.runtime.services_table import port_of
from hookstream.runtime.settings import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("console", help="the operator's web console")
    add_listen_options(parser, port_of("console"))
    parser.set_defaults(run=run)


def console_http(settings: Settings, host: str, port: int) -> tuple[ServiceHttp, ConsoleSources]:
    sources = ConsoleSources(settings)
    access = Access(settings.ingress.api_key.reveal(), is_loopback(host))
    console = Console(sources, access)
    http = ServiceHttp(host, port, new_registry(), lambda: True, console.routes())
    return http, sources


def run(args: argparse.Namespace, settings: Settings) -> int:
    http, sources = console_http(settings, args.host, args.port)

    async def work(stop: asyncio.Event) -> None:
        try:
            await sources.keep_lag_fresh(stop)
        finally:
            await sources.close()

    asyncio.run(run_service(http, work))
    return 0
