"""The headline numbers, read from the per-minute rollups (fast over months of data).

    compute_stats(client, "hookstream", StatsRange(from_ms, to_ms, page_id=None)) -> dict

Ranges are whole minutes: a minute counts when it starts inside [from, to).
- events/min by kind: events in range / minutes covered by data (from the first to the last
  minute with events inside the range; a 10 s burst is one minute, not the whole window)
- reply latency p50/p95/p99: webhook received -> reply delivered (delivery facts)
- plan latency p50/p95/p99: webhook received -> reply planned (reply facts)
- share processed within 2 s: events whose processing (received -> processed) took <= 2 s
- delivery error rate by code: outcomes with an error (or dead-lettered) / all outcomes
- dlq count: dead-lettered records
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client

OBJECTIVE_SHARE_UNDER_2S = 0.99
OBJECTIVE_ERROR_RATE = 0.005


@dataclass(frozen=True)
class StatsRange:
    from_ms: int
    to_ms: int
    page_id: str | None = None

    @property
    def minutes(self) -> int:
        start = self.from_ms // 60_000
        end = -(-self.to_ms // 60_000)
        return max(end - start, 1)

    def where(self) -> str:
        page = " AND page_id = %(page)s" if self.page_id else ""
        return (
            "minute >= toStartOfMinute(fromUnixTimestamp64Milli(%(from_ms)s, 'UTC'))"
            " AND minute < fromUnixTimestamp64Milli(%(to_ms)s, 'UTC')" + page
        )

    def parameters(self) -> dict[str, Any]:
        params: dict[str, Any] = {"from_ms": self.from_ms, "to_ms": self.to_ms}
        if self.page_id:
            params["page"] = self.page_id
        return params


QUERIES = {
    "kinds": "SELECT kind, sum(events) FROM {db}.messages_1m WHERE {where} "
    "GROUP BY kind ORDER BY 2 DESC, kind",
    "events": "SELECT sum(events), sum(within_2s) FROM {db}.messages_1m WHERE {where}",
    "replies": "SELECT sum(replies), quantilesMerge(0.5, 0.95, 0.99)(plan_q) "
    "FROM {db}.replies_1m WHERE {where}",
    "deliveries": "SELECT sum(outcomes), sum(errors), sum(e2e_count), sum(e2e_within_2s), "
    "quantilesIfMerge(0.5, 0.95, 0.99)(e2e_q) FROM {db}.deliveries_1m WHERE {where}",
    "codes": "SELECT error_code, error_subcode, sum(errors) FROM {db}.deliveries_1m "
    "WHERE {where} AND errors > 0 GROUP BY error_code, error_subcode "
    "ORDER BY 3 DESC, 1, 2",
    "dlq": "SELECT sum(dead_letters) FROM {db}.dead_letters_1m WHERE {where}",
    "span": "SELECT count(), toUnixTimestamp(min(minute)), toUnixTimestamp(max(minute)) "
    "FROM {db}.messages_1m WHERE {where}",
}


def _rows(client: Client, name: str, db: str, rng: StatsRange) -> list[tuple[Any, ...]]:
    sql = QUERIES[name].format(db=db, where=rng.where())
    return [tuple(row) for row in client.query(sql, parameters=rng.parameters()).result_rows]


def _quantiles(values: Any) -> dict[str, float | None]:
    names = ("p50", "p95", "p99")
    if not values or any(v != v for v in values):  # NaN when there is nothing to measure
        return dict.fromkeys(names)
    return {name: round(float(v), 1) for name, v in zip(names, values, strict=True)}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def compute_stats(client: Client, database: str, rng: StatsRange) -> dict[str, Any]:
    kinds = _rows(client, "kinds", database, rng)
    [(events, within)] = _rows(client, "events", database, rng)
    [(replies, plan_q)] = _rows(client, "replies", database, rng)
    [(outcomes, errors, e2e_n, e2e_in, e2e_q)] = _rows(client, "deliveries", database, rng)
    codes = _rows(client, "codes", database, rng)
    [(dlq,)] = _rows(client, "dlq", database, rng)
    [(rows, first_s, last_s)] = _rows(client, "span", database, rng)
    covered = (int(last_s) - int(first_s)) // 60 + 1 if rows else 0
    return {
        "from_ms": rng.from_ms,
        "to_ms": rng.to_ms,
        "page_id": rng.page_id,
        "minutes": rng.minutes,
        "covered_minutes": covered,
        "first_minute_ms": int(first_s) * 1000 if rows else None,
        "last_minute_ms": int(last_s) * 1000 if rows else None,
        "events": int(events),
        "events_per_min": {k: round(int(n) / max(covered, 1), 3) for k, n in kinds},
        "events_by_kind": {k: int(n) for k, n in kinds},
        "share_processed_within_2s": _share(int(within), int(events)),
        "replies_planned": int(replies),
        "plan_latency_ms": _quantiles(plan_q if replies else None),
        "reply_latency_ms": _quantiles(e2e_q if e2e_n else None),
        "share_replies_within_2s": _share(int(e2e_in), int(e2e_n)),
        "delivery_outcomes": int(outcomes),
        "delivery_errors": int(errors),
        "delivery_error_rate": _share(int(errors), int(outcomes)),
        "delivery_error_rate_by_code": {
            f"{code}/{sub}": _share(int(n), int(outcomes)) for code, sub, n in codes
        },
        "dlq_count": int(dlq),
    }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f}%"


def _ms(q: dict[str, float | None]) -> str:
    return " ".join(f"{k}={'n/a' if v is None else f'{v:.0f}ms'}" for k, v in q.items())


def render_text(stats: dict[str, Any]) -> str:
    page = stats["page_id"] or "all pages"
    covered = stats.get("covered_minutes", stats["minutes"])
    lines = [f"hookstream stats: {page}, {stats['events']} events ({covered} min with data)"]
    lines.append(f"events/min by kind (over the {covered} min with data):")
    lines += [f"  {kind:<24} {rate:>10.2f}" for kind, rate in stats["events_per_min"].items()]
    lines.append(f"processed within 2 s:     {_pct(stats['share_processed_within_2s'])}")
    lines.append(f"reply latency (webhook -> delivered): {_ms(stats['reply_latency_ms'])}")
    lines.append(f"replies within 2 s:       {_pct(stats['share_replies_within_2s'])}")
    lines.append(f"plan latency (webhook -> planned):    {_ms(stats['plan_latency_ms'])}")
    lines.append(
        f"delivery error rate:      {_pct(stats['delivery_error_rate'])} of "
        f"{stats['delivery_outcomes']} outcomes (objective < 0.5%)"
    )
    lines += [
        f"  code {code:<14} {_pct(rate)}"
        for code, rate in stats["delivery_error_rate_by_code"].items()
    ]
    lines.append(f"dead letters:             {stats['dlq_count']}")
    return "\n".join(lines)
