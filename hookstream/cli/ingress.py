"""`hookstream ingress`: the webhook ingress on uvicorn (uvloop + httptools)."""

from __future__ import annotations

import argparse

import uvicorn

from hookstream.cli._common import add_listen_options
from hookstream.runtime.service import guarded_httptools
from hookstream.runtime.services_table import port_of
from hookstream.runtime.settings import IngressSettings, Settings
from hookstream.runtime.tracing import tracer_for
from ingress.app import create_app
from ingress.webhook import WebhookRouter


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("ingress", help="serve Meta webhooks into Kafka")
    add_listen_options(parser, port_of("ingress"))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    settings.ingress.require()
    app = create_app(settings)
    tracer = app.handler.tracer = tracer_for(settings.tracing, "ingress")
    try:
        _serve(app, args, settings.ingress)
    finally:
        tracer.shutdown()  # exports the spans still batched
    return 0


def _serve(app: WebhookRouter, args: argparse.Namespace, limits: IngressSettings) -> None:
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        # httptools with a head timeout and size limit
        http=guarded_httptools(limits.head_timeout_s, limits.max_head_bytes),
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
