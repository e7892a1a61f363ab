"""The sink's small read-only query endpoint: `GET /api/stats?from_ms=&to_ms=&page=`.

While the sink holds the embedded engine (one process per chDB path), `hookstream stats` asks
here instead. It only ever runs the fixed queries of `sinks/stats.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookstream.runtime.clickhouse import ClickHouseUnavailable
from sinks.retry import short_error
from sinks.stats import StatsRange, compute_stats

RunWithClient = Callable[[Callable[[Client], Any]], Awaitable[Any]]


def parse_range(params: dict[str, str]) -> StatsRange:
    try:
        from_ms, to_ms = int(params["from_ms"]), int(params["to_ms"])
    except (KeyError, ValueError):
        raise ValueError("from_ms and to_ms (epoch milliseconds) are required") from None
    if to_ms <= from_ms:
        raise ValueError("to_ms must be after from_ms")
    return StatsRange(from_ms, to_ms, params.get("page") or None)


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def stats_route(run: RunWithClient, database: str) -> Route:
    async def stats(request: Request) -> Response:
        try:
            rng = parse_range(dict(request.query_params))
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        try:
            body = await run(lambda client: compute_stats(client, database, rng))
        except ClickHouseUnavailable as exc:
            return _json({"error": str(exc)}, 503)
        except Exception as exc:  # noqa: BLE001 - a query failure is an answer, not a crash
            return _json({"error": short_error(exc)}, 502)
        return _json(body)

    return Route("/api/stats", stats, methods=["GET"])
