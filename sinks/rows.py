"""Pure mapping: one analytics fact -> one row of one ClickHouse table (see schemas/clickhouse.py).

A row is a plain tuple in `TABLE_COLUMNS[table]` order; every table starts with `fact_id, ts`
and `PAGE_COLUMN[table]` says where `page_id` is. The mappers take the fact's fields as a tuple
in dataclass field order, so the sink's decoder can hand them the fields it pulled out of the
JSON object in one C call, without building the dataclass (sinks/decode.py).

Times stay integer milliseconds (clickhouse-connect writes them straight into DateTime64(3));
derived latencies are clamped into UInt32 so a clock skew never makes a row invalid.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from operator import attrgetter
from typing import Any, NamedTuple

from schemas.analytics import FACT_TYPES, Fact
from schemas.clickhouse import TABLE_COLUMNS

UINT32_MAX = 2**32 - 1
OBJECTIVE_MS = 2000
Values = tuple[Any, ...]  # one row, in TABLE_COLUMNS[table] order
Mapper = Callable[[Values], Values]  # the fact's fields (dataclass order) -> the row
PAGE_COLUMN = {table: columns.index("page_id") for table, columns in TABLE_COLUMNS.items()}


class Row(NamedTuple):
    table: str
    values: Values


def span_ms(start_ms: int, end_ms: int) -> int:
    """end - start, clamped to what a UInt32 column holds."""
    return min(max(end_ms - start_ms, 0), UINT32_MAX)


def _message(f: Values) -> Values:
    (
        fact_id,
        event_id,
        event_time_ms,
        received_ms,
        processed_ms,
        platform,
        page_id,
        conversation_id,
        user_id,
        direction,
        kind,
        text_length,
        attachment_types,
        rate_limited,
        test,
        no_reply,
        request_id,
        source_topic,
        source_partition,
        source_offset,
        _,
        _,
    ) = f
    return (
        fact_id,
        received_ms,
        event_id,
        event_time_ms,
        processed_ms,
        span_ms(received_ms, processed_ms),
        platform,
        page_id,
        conversation_id,
        user_id,
        direction,
        kind,
        text_length,
        attachment_types,
        rate_limited,
        test,
        no_reply,
        request_id,
        source_topic,
        source_partition,
        source_offset,
    )


def _reply(f: Values) -> Values:
    (
        fact_id,
        command_id,
        event_id,
        page_id,
        conversation_id,
        responder,
        rule_id,
        planned_ms,
        received_ms,
        messaging_type,
        _,
        _,
    ) = f
    plan_ms = span_ms(received_ms, planned_ms) if received_ms else 0
    return (
        fact_id,
        received_ms or planned_ms,
        planned_ms,
        plan_ms,
        command_id,
        event_id,
        page_id,
        conversation_id,
        responder,
        rule_id,
        messaging_type,
    )


def _delivery(f: Values) -> Values:
    (
        fact_id,
        command_id,
        page_id,
        conversation_id,
        status,
        attempts,
        created_ms,
        finished_ms,
        latency_ms,
        error_code,
        error_subcode,
        error_message,
        message_id,
        received_ms,
        _,
        _,
    ) = f
    has_e2e = status == "delivered" and received_ms > 0
    return (
        fact_id,
        finished_ms,
        created_ms,
        command_id,
        page_id,
        conversation_id,
        status,
        attempts,
        min(max(latency_ms, 0), UINT32_MAX),
        span_ms(received_ms, finished_ms) if has_e2e else 0,
        has_e2e,
        error_code != 0 or status == "dead_lettered",
        error_code,
        error_subcode,
        error_message,
        message_id,
    )


def _dead_letter(f: Values) -> Values:
    (
        fact_id,
        dead_letter_id,
        source_topic,
        service,
        reason,
        page_id,
        failed_ms,
        conversation_id,
        _,
        _,
    ) = f
    return (
        fact_id,
        failed_ms,
        dead_letter_id,
        source_topic,
        service,
        reason,
        page_id,
        conversation_id,
    )


def _duplicate(f: Values) -> Values:
    (
        fact_id,
        event_id,
        page_id,
        conversation_id,
        platform,
        kind,
        received_ms,
        first_ms,
        processed_ms,
        request_id,
        source_topic,
        source_partition,
        source_offset,
        _,
        _,
    ) = f
    return (
        fact_id,
        received_ms,
        event_id,
        page_id,
        conversation_id,
        platform,
        kind,
        first_ms,
        processed_ms,
        request_id,
        source_topic,
        source_partition,
        source_offset,
    )


# fact kind -> (table, mapper); the mappers unpack every field, so a field added to a fact
# fails loudly here until the mapping says where it goes.
MAPPINGS: dict[str, tuple[str, Mapper]] = {
    "message_received": ("messages", _message),
    "reply_planned": ("replies", _reply),
    "delivery_result": ("deliveries", _delivery),
    "dead_lettered": ("dead_letters", _dead_letter),
    "duplicate_dropped": ("duplicates", _duplicate),
}
FIELDS: dict[str, tuple[str, ...]] = {
    kind: tuple(f.name for f in dataclasses.fields(cls)) for kind, cls in FACT_TYPES.items()
}
_BY_TYPE = {cls: (*MAPPINGS[kind], attrgetter(*FIELDS[kind])) for kind, cls in FACT_TYPES.items()}


def row_for(fact: Fact) -> Row:
    table, mapper, fields = _BY_TYPE[type(fact)]
    return Row(table, mapper(fields(fact)))


def fact_id_of(values: Values) -> str:
    fact_id: str = values[0]
    return fact_id


def page_id_of(table: str, values: Values) -> str:
    page_id: str = values[PAGE_COLUMN[table]]
    return page_id
