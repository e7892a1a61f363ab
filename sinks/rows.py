"""Pure mapping: one analytics fact -> one row of one ClickHouse table (see schemas/clickhouse.py).

Times stay integer milliseconds (clickhouse-connect writes them straight into DateTime64(3));
derived latencies are clamped into UInt32 so a clock skew never makes a row invalid.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from schemas.analytics import DeadLettered, DeliveryResult, Fact, MessageReceived, ReplyPlanned

UINT32_MAX = 2**32 - 1
OBJECTIVE_MS = 2000


class Row(NamedTuple):  # a tuple: built once per record on the hot path
    table: str
    fact_id: str
    page_id: str
    ts_ms: int
    values: tuple[Any, ...]  # in schemas.clickhouse.TABLE_COLUMNS[table] order


def span_ms(start_ms: int, end_ms: int) -> int:
    """end - start, clamped to what a UInt32 column holds."""
    return min(max(end_ms - start_ms, 0), UINT32_MAX)


def row_for(fact: Fact) -> Row:
    if isinstance(fact, MessageReceived):
        return _message(fact)
    if isinstance(fact, ReplyPlanned):
        return _reply(fact)
    if isinstance(fact, DeliveryResult):
        return _delivery(fact)
    return _dead_letter(fact)


def _message(f: MessageReceived) -> Row:
    values = (
        f.fact_id, f.received_at_ms, f.event_id, f.event_time_ms, f.processed_at_ms,
        span_ms(f.received_at_ms, f.processed_at_ms), f.platform, f.page_id, f.conversation_id,
        f.user_id, f.direction, f.kind, f.text_length, list(f.attachment_types),
        f.rate_limited, f.test,
    )
    return Row("messages", f.fact_id, f.page_id, f.received_at_ms, values)


def _reply(f: ReplyPlanned) -> Row:
    ts = f.event_received_at_ms or f.planned_at_ms
    plan_ms = span_ms(f.event_received_at_ms, f.planned_at_ms) if f.event_received_at_ms else 0
    values = (
        f.fact_id, ts, f.planned_at_ms, plan_ms, f.command_id, f.event_id, f.page_id,
        f.conversation_id, f.responder, f.rule_id, f.messaging_type,
    )
    return Row("replies", f.fact_id, f.page_id, ts, values)


def _delivery(f: DeliveryResult) -> Row:
    has_e2e = f.status == "delivered" and f.event_received_at_ms > 0
    e2e_ms = span_ms(f.event_received_at_ms, f.finished_at_ms) if has_e2e else 0
    is_error = f.error_code != 0 or f.status == "dead_lettered"
    values = (
        f.fact_id, f.finished_at_ms, f.created_at_ms, f.command_id, f.page_id,
        f.conversation_id, f.status, f.attempts, min(max(f.latency_ms, 0), UINT32_MAX),
        e2e_ms, has_e2e, is_error, f.error_code, f.error_subcode, f.error_message,
        f.message_id,
    )
    return Row("deliveries", f.fact_id, f.page_id, f.finished_at_ms, values)


def _dead_letter(f: DeadLettered) -> Row:
    values = (
        f.fact_id, f.failed_at_ms, f.dead_letter_id, f.source_topic, f.service, f.reason,
        f.page_id, f.conversation_id,
    )
    return Row("dead_letters", f.fact_id, f.page_id, f.failed_at_ms, values)
