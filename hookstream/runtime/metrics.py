"""Prometheus helpers: a registry per service and an ASGI endpoint that serves it."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.requests import Request
from starlette.responses import Response

# Buckets for latencies that should be milliseconds, with a tail out to Meta's 5 s deadline.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


def new_registry() -> CollectorRegistry:
    return CollectorRegistry(auto_describe=True)


def metrics_endpoint(registry: CollectorRegistry):  # type: ignore[no-untyped-def]
    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
