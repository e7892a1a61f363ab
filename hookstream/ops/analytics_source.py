"""Where the CLI reads ClickHouse facts from: a running sink's read-only endpoint, or the engine.

A chDB path is held by one process at a time, so with the embedded engine a running sink is
asked first (`GET <sink>/api/...`) and the engine is opened directly only when no sink answers.
With a ClickHouse server the CLI queries it directly.

    facts = read_analytics(target, sink_url, "/api/trace", params,
                           lambda client: fetch_trace(client, target.database, query))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx
from clickhouse_connect.driver.client import Client

from hookstream.runtime.clickhouse import ClickHouseTarget, ClickHouseUnavailable, connect
from sinks.retry import short_error


class AnalyticsUnavailable(Exception):
    """Neither a sink nor the engine could answer; the message says what was tried."""


def ask_sink(url: str, path: str, params: Mapping[str, str | int]) -> dict[str, Any] | None:
    """The sink's answer, or None when no sink listens there."""
    try:
        response = httpx.get(f"{url}{path}", params=dict(params), timeout=30.0)
    except httpx.TransportError:
        return None
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {"error": response.text[:200]}
    if response.status_code != 200:
        raise AnalyticsUnavailable(
            f"the sink at {url} answered {response.status_code}: {body.get('error', '')}"
        )
    return body


def query_directly(target: ClickHouseTarget, query: Callable[[Client], dict[str, Any]]) -> Any:
    client = connect(target)
    try:
        return query(client)
    except Exception as exc:  # noqa: BLE001 - one clear line instead of a traceback
        raise AnalyticsUnavailable(
            f"querying {target.describe()} failed (has `hookstream sink` "
            f"created the schema?): {short_error(exc)}"
        ) from None
    finally:
        client.close()


def read_analytics(
    target: ClickHouseTarget,
    sink_url: str,
    path: str,
    params: Mapping[str, str | int],
    query: Callable[[Client], dict[str, Any]],
) -> dict[str, Any]:
    if not target.embedded:
        answer: dict[str, Any] = query_directly(target, query)
        return answer
    answer_from_sink = ask_sink(sink_url, path, params)
    if answer_from_sink is not None:
        return answer_from_sink
    try:
        direct: dict[str, Any] = query_directly(target, query)
    except ClickHouseUnavailable as exc:
        raise AnalyticsUnavailable(f"{exc} (no sink answered at {sink_url} either)") from None
    return direct
