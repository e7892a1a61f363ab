"""`hookstream sender`: deliver `outbound` commands through the Graph Send API."""

from __future__ import annotations

import argparse
import asyncio
import os

import uvloop

from hookstream.cli._common import add_listen_options
from hookstream.runtime.pages import load_pages
from hookstream.runtime.service import ServiceHttp, run_service
from hookstream.runtime.services_table import port_of
from hookstream.runtime.settings import Settings
from hookstream.runtime.tracing import tracer_for
from senders.service import Sender


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("sender", help="deliver outbound commands to the Send API")
    add_listen_options(parser, port_of("sender"))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    pages = load_pages(settings.pages_file, os.environ)
    sender = Sender(settings, pages)
    tracer = sender.tracer = tracer_for(settings.tracing, "sender")
    http = ServiceHttp(args.host, args.port, sender.metrics.registry, lambda: sender.ready)
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run_service(http, sender.run))
    finally:
        tracer.shutdown()  # exports the spans still batched
    return 0
