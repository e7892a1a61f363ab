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
from ingress.guard import BodyGuard, BodyGuardMiddleware
from ingress.metrics import IngressMetrics
from ingress.publisher import KafkaPublisher
from ingress.webhook import WebhookHandler, WebhookRouter

WEBHOOK_PATHS = ("/webhook", "/webhooks/messenger", "/webhooks/instagram")


def create_app(settings: Settings, extra_routes: Sequence[BaseRoute] = ()) -> WebhookRouter:
    """The ASGI app: webhook POSTs on the lean path, everything else through Starlette."""
    starlette = create_starlette(settings, extra_routes)
    handler: WebhookHandler = starlette.state.webhook_handler
    guarded = BodyGuardMiddleware(starlette, handler.guard)
    return WebhookRouter(handler, guarded, WEBHOOK_PATHS)


def body_guard(settings: Settings, metrics: IngressMetrics) -> BodyGuard:
    ingress = settings.ingress
    guard = BodyGuard(
        timeout_s=ingress.body_timeout_s,
        max_inflight_bytes=ingress.max_inflight_bytes,
        small_body_bytes=ingress.small_body_bytes,
        max_requests=ingress.max_requests,
        retry_after_s=ingress.retry_after_s,
        on_timeout=metrics.body_timeouts.inc,
    )
    metrics.watch_guard(guard)
    return guard


def create_starlette(settings: Settings, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    metrics = IngressMetrics(new_registry())
    inbound = settings.kafka.topic("inbound")
    publisher = KafkaPublisher(
        settings.kafka,
        settings.ingress.linger_ms,
        settings.ingress.readiness_interval_s,
        max_record_bytes=settings.ingress.max_record_bytes,
        limit_topic=inbound,
    )
    guard = body_guard(settings, metrics)
    handler = WebhookHandler(settings.ingress, publisher, inbound, metrics, guard)

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
            await guard.stop()
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
