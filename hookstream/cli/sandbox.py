"""`hookstream sandbox`: a local stand-in for Meta's Send API (what `make up` points the sender to).

Tokens: those of the pages file, plus HOOKSTREAM_SENDER_SANDBOX_TOKENS ("token" or "page_id:token").
Error injection: HOOKSTREAM_SENDER_SANDBOX_FAULTS (JSON list) or, at run time, PUT /sandbox/faults.
Graph calls of `hookstream pages` and "Require App Secret": see hookstream/sandbox/graph.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os

import uvloop

from hookstream.cli._common import add_listen_options
from hookstream.runtime.errors import ConfigError
from hookstream.runtime.metrics import new_registry
from hookstream.runtime.pages import load_pages
from hookstream.runtime.service import ServiceHttp, run_service
from hookstream.runtime.services_table import port_of
from hookstream.runtime.settings import Settings
from hookstream.sandbox.app import Sandbox, sandbox_tokens
from hookstream.sandbox.faults import FaultConfigError, parse_faults
from hookstream.sandbox.graph import configure_from
from hookstream.sandbox.server import sandbox_front


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("sandbox", help="a local stand-in for the Graph Send API")
    add_listen_options(parser, port_of("sandbox"))
    parser.set_defaults(run=run)


def build_sandbox(settings: Settings) -> Sandbox:
    pages = load_pages(settings.pages_file, os.environ)
    page_tokens = {pid: page.access_token.reveal() for pid, page in pages.pages.items()}
    try:
        faults = parse_faults(settings.sender.sandbox_faults)
    except FaultConfigError as exc:
        raise ConfigError(f"HOOKSTREAM_SENDER_SANDBOX_FAULTS: {exc}") from None
    sandbox = Sandbox(sandbox_tokens(page_tokens, settings.sender.sandbox_tokens), faults)
    sandbox.instagram_ids = configure_from(sandbox.graph, settings, pages)
    return sandbox


def run(args: argparse.Namespace, settings: Settings) -> int:
    sandbox = build_sandbox(settings)
    http = ServiceHttp(
        args.host,
        args.port,
        new_registry(),
        routes=sandbox.routes(),
        front=lambda app: sandbox_front(sandbox, app),
    )

    async def idle(stop: asyncio.Event) -> None:
        await stop.wait()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run_service(http, idle))
    return 0
