"""`hookstream processors`: the faust-streaming processors, /healthz and /metrics on --port.

`--as GROUP` runs them as another consumer group (after `hookstream replay --as GROUP ...`).
Without --port: 6066, or a free port when that one is taken (the log line says which); beside
`hookstream up` they take its settings and pages.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
from pathlib import Path

from hookstream.cli._common import note_runner
from hookstream.runtime.logging import event, get_logger
from hookstream.runtime.ports import free_port, port_open
from hookstream.runtime.service import ServiceHttp, run_service
from hookstream.runtime.services_table import port_of
from hookstream.runtime.settings import Settings
from hookstream.runtime.tracing import tracer_for

log = get_logger("processors")
DEFAULT_PORT = port_of("processors")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("processors", help="process inbound events into replies + facts")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=None, help=f"port (default {DEFAULT_PORT}, or a free one)"
    )
    parser.add_argument(
        "--as",
        dest="as_group",
        metavar="GROUP",
        help="run as this consumer group (faust app id), e.g. after `hookstream replay --as`",
    )
    parser.set_defaults(run=run)


def with_group(settings: Settings, group: str | None) -> Settings:
    if not group:
        return settings
    return dataclasses.replace(
        settings, processors=dataclasses.replace(settings.processors, app_id=group)
    )


def listen_port(host: str, port: int | None) -> int:
    """--port, else 6066, else (taken, e.g. by the stack's processors) a free one."""
    if port is not None:
        return port
    return free_port(host) if port_open(host, DEFAULT_PORT) else DEFAULT_PORT


def no_pages_warning(pages_file: Path | None, cwd: Path) -> str:
    """Why a processors start has no page to answer for (pure)."""
    if pages_file is None:
        looked = (
            f"HOOKSTREAM_PAGES_FILE is not set and {cwd / 'pages.yaml'} does not exist "
            "(no `hookstream up` stack file either)"
        )
    else:
        looked = f"the pages file {pages_file} configures no page"
    return f"0 pages configured: {looked}; events are consumed but no reply is planned"


def warn_if_no_pages(settings: Settings, pages: int) -> None:
    if pages == 0:
        message = no_pages_warning(settings.pages_file, Path.cwd())
        event(log, "processors_no_pages", logging.WARNING, message=message)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from processors.runner import ProcessorsService  # faust is heavy: import only when used

    settings = with_group(settings, args.as_group)
    port = listen_port(args.host, args.port)
    if args.as_group:
        note_runner(settings.state_dir, args.as_group)

    async def main() -> None:
        service = ProcessorsService(settings, os.environ)
        tracer = service.runtime.batch.tracer = tracer_for(settings.tracing, "processors")
        warn_if_no_pages(settings, len(service.pages.current().pages))
        event(log, "processors_listening", group=service.runtime.app.conf.id, port=port)
        http = ServiceHttp(args.host, port, service.metrics.registry, service.ready)
        try:
            await run_service(http, service.run)
        finally:
            tracer.shutdown()  # exports the spans still batched

    asyncio.run(main())
    return 0
