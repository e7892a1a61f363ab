"""The sink's small read-only query endpoints: `GET /api/stats?from_ms=&to_ms=&page=` and
`GET /api/trace?id=&since_ms=&until_ms=`, `GET /api/overview?from_ms=&to_ms=` (per page).

While the sink holds the embedded engine (one process per chDB path), `hookstream stats` and
`hookstream trace` ask here instead. They only ever run the fixed queries of `sinks/stats.py`
and `sinks/trace.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from clickhouse_connect.driver.client import Client
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookstream.runtime.clickhouse import ClickHouseUnavailable
from sinks.overview import page_overview
from sinks.retry import short_error
from sinks.stats import StatsRange, compute_stats
from sinks.trace import TraceQuery, fetch_trace

RunWithClient = Callable[[Callable[[Client], Any]], Awaitable[Any]]
T = TypeVar("T")


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


def query_route(
    path: str,
    run: RunWithClient,
    parse: Callable[[dict[str, str]], T],
    compute: Callable[[Client, T], Any],
) -> Route:
    """GET `path`: parse the query string (ValueError -> 400), run one fixed query on the
    engine the sink holds (unavailable -> 503, failed -> 502), answer JSON."""

    async def answer(request: Request) -> Response:
        try:
            parsed = parse(dict(request.query_params))
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        try:
            body = await run(lambda client: compute(client, parsed))
        except ClickHouseUnavailable as exc:
            return _json({"error": str(exc)}, 503)
        except Exception as exc:  # noqa: BLE001 - a query failure is an answer, not a crash
            return _json({"error": short_error(exc)}, 502)
        return _json(body)

    return Route(path, answer, methods=["GET"])


def stats_route(run: RunWithClient, database: str) -> Route:
    return query_route(
        "/api/stats", run, parse_range, lambda client, rng: compute_stats(client, database, rng)
    )


def parse_trace(params: dict[str, str]) -> TraceQuery:
    try:
        since_ms, until_ms = int(params["since_ms"]), int(params["until_ms"])
    except (KeyError, ValueError):
        raise ValueError("since_ms and until_ms (epoch milliseconds) are required") from None
    return TraceQuery.parse(params.get("id", ""), since_ms, until_ms)


def trace_route(run: RunWithClient, database: str) -> Route:
    return query_route(
        "/api/trace", run, parse_trace, lambda client, q: fetch_trace(client, database, q)
    )


def overview_route(run: RunWithClient, database: str) -> Route:
    return query_route(
        "/api/overview", run, parse_range, lambda client, rng: page_overview(client, database, rng)
    )
