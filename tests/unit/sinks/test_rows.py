from __future__ import annotations

from schemas.analytics import (
    DeadLettered,
    DeliveryResult,
    DuplicateDropped,
    MessageReceived,
    ReplyPlanned,
)
from schemas.clickhouse import TABLE_COLUMNS
from sinks.rows import PAGE_COLUMN, UINT32_MAX, row_for, span_ms


def msg(**over: object) -> MessageReceived:
    base: dict[str, object] = dict(
        fact_id="msg:e1",
        event_id="e1",
        event_time_ms=900,
        received_at_ms=1000,
        processed_at_ms=1250,
        platform="messenger",
        page_id="1001",
        conversation_id="1001:u1",
        user_id="u1",
        direction="in",
        kind="message",
        text_length=5,
        attachment_types=["image", "audio"],
    )
    base.update(over)
    return MessageReceived(**base)  # type: ignore[arg-type]


def dlv(**over: object) -> DeliveryResult:
    base: dict[str, object] = dict(
        fact_id="dlv:c1:delivered:1",
        command_id="c1",
        page_id="1001",
        conversation_id="1001:u1",
        status="delivered",
        attempts=1,
        created_at_ms=1100,
        finished_at_ms=1500,
        latency_ms=400,
        event_received_at_ms=1000,
    )
    base.update(over)
    return DeliveryResult(**base)  # type: ignore[arg-type]


def test_every_row_matches_its_table_columns() -> None:
    reply = ReplyPlanned("plan:c1", "c1", "e1", "1001", "1001:u1", "rules", "pricing", 1030, 1000)
    dead = DeadLettered("dlq:x", "x", "inbound", "processors", "bad", "1001", 2000)
    copy = DuplicateDropped(
        "dup:e1:in:0:7", "e1", "1001", "1001:u1", "messenger", "message", 3000, 1000, 3004, "r",
        "in", 0, 7,
    )  # fmt: skip
    for fact in (msg(), reply, dlv(), dead, copy):
        row = row_for(fact)
        assert len(row.values) == len(TABLE_COLUMNS[row.table])
        assert row.values[0] == fact.fact_id and row.values[PAGE_COLUMN[row.table]] == "1001"
    # a dropped copy is keyed by its own ingress time: the same record read again, same key
    assert row_for(copy).table == "duplicates" and row_for(copy).values[1] == 3000
    assert (
        dict(zip(TABLE_COLUMNS["messages"], row_for(msg()).values, strict=True))["no_reply"] == ""
    )


def test_message_row_is_keyed_by_received_time_with_processing_latency() -> None:
    row = row_for(msg())
    values = dict(zip(TABLE_COLUMNS["messages"], row.values, strict=True))
    assert (row.table, values["ts"], values["page_id"]) == ("messages", 1000, "1001")
    assert values["processing_ms"] == 250
    assert values["attachment_types"] == ["image", "audio"]


def test_reply_latency_from_event_received_or_planned_time_alone() -> None:
    with_cause = row_for(ReplyPlanned("p", "c", "e", "1", "1:u", "llm", "", 1400, 1000))
    alone = row_for(ReplyPlanned("p", "c", "e", "1", "1:u", "llm", "", 1400, 0))
    assert (with_cause.values[1], with_cause.values[3]) == (1000, 400)
    assert (alone.values[1], alone.values[3]) == (1400, 0)


def test_delivery_end_to_end_only_for_delivered_replies_with_a_cause() -> None:
    cols = TABLE_COLUMNS["deliveries"]
    ok = dict(zip(cols, row_for(dlv()).values, strict=True))
    failed = dict(
        zip(cols, row_for(dlv(status="dead_lettered", error_code=100)).values, strict=True)
    )
    retried = dict(zip(cols, row_for(dlv(status="retried", error_code=2)).values, strict=True))
    assert (ok["has_e2e"], ok["e2e_ms"], ok["is_error"]) == (True, 500, False)
    assert (failed["has_e2e"], failed["is_error"], failed["error_code"]) == (False, True, 100)
    assert retried["is_error"] is True


def test_spans_are_clamped_into_uint32() -> None:
    assert span_ms(1000, 900) == 0
    assert span_ms(0, 2**40) == UINT32_MAX
    values = dict(
        zip(TABLE_COLUMNS["messages"], row_for(msg(processed_at_ms=10)).values, strict=True)
    )
    assert values["processing_ms"] == 0
