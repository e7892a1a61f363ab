"""The facts ClickHouse holds about one message, command or conversation, for `hookstream trace`.

    q = TraceQuery.parse("m_abc", since_ms=..., until_ms=...)
    rows = fetch_trace(client, "hookstream", q)  # {"messages": [...], "replies": [...], ...}

Tables: messages (each with `no_reply`, why no reply was planned), replies, deliveries,
dead_letters, and duplicates (the copies of an event dropped as Meta's redeliveries).

Fixed queries only (the sink's read-only endpoint runs them for the CLI). An id is matched as
what it can be: an event id (`message:<mid>`), a bare Meta message id (any event kind whose id
ends in `:<mid>`), a command id, or a conversation id (`<page_id>:<user_id>`). Rows are plain
dicts with times in epoch milliseconds (`*_ms`), ready for JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client

MAX_ID_LENGTH = 300
MAX_ROWS = 500  # per table: a conversation over a long window is cut here (and says so)


class BadTraceId(ValueError):
    """The id cannot be any of the ids trace accepts."""


@dataclass(frozen=True)
class TraceQuery:
    id: str
    since_ms: int
    until_ms: int

    @classmethod
    def parse(cls, text: str, since_ms: int, until_ms: int) -> TraceQuery:
        value = text.strip()
        if not value or len(value) > MAX_ID_LENGTH or not value.isprintable():
            raise BadTraceId(
                "an id is a Meta message id (mid), an event id, a command id, or a conversation"
                f" id <page_id>:<user_id> (printable, at most {MAX_ID_LENGTH} characters)"
            )
        if until_ms <= since_ms:
            raise BadTraceId("the end of the window must be after its start")
        return cls(value, since_ms, until_ms)

    def parameters(self) -> dict[str, Any]:
        return {"id": self.id, "since_ms": self.since_ms, "until_ms": self.until_ms}


# Plain literals: values only ever bound as parameters; {db} and {limit} are ours.
# Each table read FINAL (a fact stored twice before a merge is still one row).
MESSAGES = """
SELECT fact_id, event_id, kind, direction, page_id, conversation_id, user_id, platform,
       toUnixTimestamp64Milli(ts) AS ts_ms, toUnixTimestamp64Milli(event_time) AS event_time_ms,
       toUnixTimestamp64Milli(processed_at) AS processed_at_ms, processing_ms, text_length,
       attachment_types, rate_limited, test, no_reply, request_id, source_topic,
       source_partition, source_offset
FROM {db}.messages FINAL
WHERE ts >= fromUnixTimestamp64Milli(%(since_ms)s, 'UTC')
  AND ts < fromUnixTimestamp64Milli(%(until_ms)s, 'UTC')
  AND (event_id = %(id)s OR endsWith(event_id, concat(':', %(id)s))
       OR conversation_id = %(id)s
       OR event_id IN (SELECT event_id FROM {db}.replies WHERE command_id = %(id)s))
ORDER BY ts_ms, fact_id LIMIT {limit}
"""
REPLIES = """
SELECT fact_id, command_id, event_id, page_id, conversation_id, responder, rule_id,
       messaging_type, toUnixTimestamp64Milli(ts) AS ts_ms,
       toUnixTimestamp64Milli(planned_at) AS planned_at_ms, plan_ms
FROM {db}.replies FINAL
WHERE ts >= fromUnixTimestamp64Milli(%(since_ms)s, 'UTC')
  AND ts < fromUnixTimestamp64Milli(%(until_ms)s, 'UTC')
  AND (command_id = %(id)s OR event_id IN %(event_ids)s OR conversation_id = %(id)s)
ORDER BY planned_at_ms, fact_id LIMIT {limit}
"""
DELIVERIES = """
SELECT fact_id, command_id, page_id, conversation_id, status, attempts, latency_ms, e2e_ms,
       has_e2e, is_error, error_code, error_subcode, error_message, message_id,
       toUnixTimestamp64Milli(ts) AS ts_ms, toUnixTimestamp64Milli(created_at) AS created_at_ms
FROM {db}.deliveries FINAL
WHERE ts >= fromUnixTimestamp64Milli(%(since_ms)s, 'UTC')
  AND ts < fromUnixTimestamp64Milli(%(until_ms)s, 'UTC')
  AND (command_id IN %(command_ids)s OR conversation_id = %(id)s)
ORDER BY ts_ms, attempts, fact_id LIMIT {limit}
"""
DUPLICATES = """
SELECT fact_id, event_id, page_id, conversation_id, platform, kind,
       toUnixTimestamp64Milli(ts) AS ts_ms,
       toUnixTimestamp64Milli(first_received_at) AS first_received_at_ms,
       toUnixTimestamp64Milli(processed_at) AS processed_at_ms, request_id, source_topic,
       source_partition, source_offset
FROM {db}.duplicates FINAL
WHERE ts >= fromUnixTimestamp64Milli(%(since_ms)s, 'UTC')
  AND ts < fromUnixTimestamp64Milli(%(until_ms)s, 'UTC')
  AND (event_id = %(id)s OR endsWith(event_id, concat(':', %(id)s))
       OR conversation_id = %(id)s OR event_id IN %(event_ids)s)
ORDER BY ts_ms, fact_id LIMIT {limit}
"""
DEAD_LETTERS = """
SELECT fact_id, dead_letter_id, source_topic, service, reason, page_id, conversation_id,
       toUnixTimestamp64Milli(ts) AS ts_ms
FROM {db}.dead_letters FINAL
WHERE ts >= fromUnixTimestamp64Milli(%(since_ms)s, 'UTC')
  AND ts < fromUnixTimestamp64Milli(%(until_ms)s, 'UTC')
  AND conversation_id IN %(conversations)s
ORDER BY ts_ms, fact_id LIMIT {limit}
"""


def _select(client: Client, sql: str, db: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    result = client.query(sql.format(db=db, limit=MAX_ROWS + 1), parameters=params)
    names = result.column_names
    return [_plain(dict(zip(names, row, strict=True))) for row in result.result_rows]


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in row.items()}


def fetch_trace(client: Client, database: str, query: TraceQuery) -> dict[str, Any]:
    """Every fact about the id in the window, table by table, each in time order."""
    params = query.parameters()
    messages = _select(client, MESSAGES, database, params)
    params["event_ids"] = [m["event_id"] for m in messages] or [""]
    replies = _select(client, REPLIES, database, params)
    params["command_ids"] = [r["command_id"] for r in replies] or [query.id]
    deliveries = _select(client, DELIVERIES, database, params)
    duplicates = _select(client, DUPLICATES, database, params)
    rows = (*messages, *replies, *deliveries, *duplicates)
    conversations = {row["conversation_id"] for row in rows}
    params["conversations"] = sorted(conversations - {""}) or [query.id]
    dead_letters = _select(client, DEAD_LETTERS, database, params)
    tables = {
        "messages": messages,
        "replies": replies,
        "deliveries": deliveries,
        "dead_letters": dead_letters,
        "duplicates": duplicates,
    }
    truncated = sorted(name for name, rows in tables.items() if len(rows) > MAX_ROWS)
    return {
        "id": query.id,
        "since_ms": query.since_ms,
        "until_ms": query.until_ms,
        **{name: rows[:MAX_ROWS] for name, rows in tables.items()},
        "truncated": truncated,
    }
