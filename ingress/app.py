"""The ingress application: `create_app(settings)` builds it, uvicorn serves it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from hookstream.runtime.metrics import metrics_endpoint, new_registry
from hookstream.runtime.settings import Settings
from ingress.api import api_routes
from ingress.metrics import IngressMetrics
from ingress.publisher import KafkaPublisher
from ingress.webhook import WebhookHandler, WebhookRouter

WEBHOOK_PATHS = ("/webhook", "/webhooks/messenger", "/webhooks/instagram")


def create_app(settings: Settings, extra_routes: Sequence[BaseRoute] = ()) -> WebhookRouter:
    """The ASGI app: webhook POSTs on the lean path, everything else through Starlette."""
    starlette = create_starlette(settings, extra_routes)
    handler: WebhookHandler = starlette.state.webhook_handler
    return WebhookRouter(handler, starlette, WEBHOOK_PATHS)


def create_starlette(settings: Settings, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    metrics = IngressMetrics(new_registry())
    publisher = KafkaPublisher(
        settings.kafka, settings.ingress.linger_ms, settings.ingress.readiness_interval_s
    )
    handler = WebhookHandler(settings.ingress, publisher, settings.kafka.topic("inbound"), metrics)

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        metrics.broker_ready.set(1 if publisher.ready else 0)
        if publisher.ready:
            return PlainTextResponse("ready")
        return PlainTextResponse("not ready: Kafka does not answer", 503)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await publisher.start()
        try:
            yield
        finally:
            await publisher.stop()

    routes: list[BaseRoute] = []
    for path in WEBHOOK_PATHS:
        routes.append(Route(path, handler.verify, methods=["GET"]))
    routes += [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint(metrics.registry)),
        *api_routes(settings),
        *extra_routes,
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.publisher = publisher
    app.state.metrics = metrics
    app.state.webhook_handler = handler
    return app
