"""Per-page headline figures for the console's overview, from the minute rollups.

overview = page_overview(client, "hookstream", StatsRange(from_ms, to_ms))
# {"minutes": 10, "pages": [{"page_id", "messages_per_min", "replies_per_min",
#   "delivery_error_rate", "reply_p95_ms", "redeliveries_per_min", "last_webhook_minute_ms"},
#   ...]}  (redeliveries: copies Meta sent again, dropped by the processors as duplicates)
"""

from __future__ import annotations

from typing import Any

from clickhouse_connect.driver.client import Client

from sinks.stats import StatsRange

PAGE_QUERIES = {
    "messages": "SELECT page_id, sum(events) FROM {db}.messages_1m WHERE {where} "
    "AND direction = 'in' GROUP BY page_id",
    "replies": "SELECT page_id, sum(replies) FROM {db}.replies_1m WHERE {where} GROUP BY page_id",
    "deliveries": "SELECT page_id, sum(outcomes), sum(errors), sum(e2e_count), "
    "quantilesIfMerge(0.5, 0.95, 0.99)(e2e_q) FROM {db}.deliveries_1m WHERE {where} "
    "GROUP BY page_id",
    "duplicates": "SELECT page_id, sum(duplicates) FROM {db}.duplicates_1m WHERE {where} "
    "GROUP BY page_id",
    # the last minute with an inbound webhook, over the whole retention (not just the window)
    "last_seen": "SELECT page_id, toUnixTimestamp(max(minute)) * 1000 FROM {db}.messages_1m "
    "WHERE direction = 'in' GROUP BY page_id",
}


def _by_page(client: Client, name: str, db: str, rng: StatsRange) -> dict[str, tuple[Any, ...]]:
    sql = PAGE_QUERIES[name].format(db=db, where=rng.where())
    rows = client.query(sql, parameters=rng.parameters()).result_rows
    return {str(row[0]): tuple(row[1:]) for row in rows}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def page_overview(client: Client, database: str, rng: StatsRange) -> dict[str, Any]:
    messages = _by_page(client, "messages", database, rng)
    replies = _by_page(client, "replies", database, rng)
    deliveries = _by_page(client, "deliveries", database, rng)
    duplicates = _by_page(client, "duplicates", database, rng)
    last_seen = _by_page(client, "last_seen", database, rng)
    pages = []
    for page in sorted(set(messages) | set(replies) | set(deliveries) | set(last_seen)):
        outcomes, errors, e2e_n, e2e_q = deliveries.get(page, (0, 0, 0, None))
        pages.append(
            {
                "page_id": page,
                "messages_per_min": round(int(messages.get(page, (0,))[0]) / rng.minutes, 2),
                "replies_per_min": round(int(replies.get(page, (0,))[0]) / rng.minutes, 2),
                "delivery_error_rate": _rate(int(errors), int(outcomes)),
                "reply_p95_ms": round(float(e2e_q[1]), 1) if e2e_n and e2e_q else None,
                "redeliveries_per_min": round(int(duplicates.get(page, (0,))[0]) / rng.minutes, 2),
                "last_webhook_minute_ms": int(last_seen[page][0]) if page in last_seen else None,
            }
        )
    return {"from_ms": rng.from_ms, "to_ms": rng.to_ms, "minutes": rng.minutes, "pages": pages}
