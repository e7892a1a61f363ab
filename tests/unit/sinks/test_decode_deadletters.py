from __future__ import annotations

import orjson
import pytest

from hookstream.runtime.consumer import Consumed, Headers
from hookstream.runtime.tracing import TRACEPARENT, context_of, new_trace
from schemas.analytics import (
    DeadLettered,
    DeliveryResult,
    Fact,
    MessageReceived,
    ReplyPlanned,
    decode_fact,
    encode_fact,
)
from schemas.dlq import decode_dead_letter
from schemas.errors import SchemaError
from sinks.batch import Batch
from sinks.deadletters import dead_letters_for
from sinks.decode import add_record, decode_row
from sinks.rows import row_for
from sinks.writer import Rejected


def record(offset: int, value: bytes | None, headers: Headers = ()) -> Consumed:
    return Consumed("t.analytics", 2, offset, b"1001:u1", value, headers=headers)


FACT = MessageReceived(
    "msg:e1", "e1", 1, 2, 3, "messenger", "1001", "1001:u1", "u1", "in", "message"
)


def test_facts_become_rows_and_garbage_becomes_malformed() -> None:
    batch = Batch()
    for offset, value in enumerate([encode_fact(FACT), b"{oops", None, b'{"fact": "nope"}']):
        add_record(batch, record(offset, value), now=1.0)
    assert [v[0] for v in batch.tables["messages"].values] == ["msg:e1"]
    assert [m.source.offset for m in batch.malformed] == [1, 2, 3]
    assert {m.reason for m in batch.malformed} == {"invalid_analytics_fact"}
    assert len(batch) == 4  # every record covered, the malformed too
    assert batch.ranges == {("t.analytics", 2): (0, 3)}


def test_dead_letters_carry_the_original_and_reason_plus_a_fact_each() -> None:
    batch = Batch()
    add_record(batch, record(7, b"{oops"), now=1.0)
    add_record(batch, record(8, encode_fact(FACT)), now=1.0)
    rows = batch.tables["messages"]
    rejected = [Rejected("messages", rows.values[0], rows.sources[0], "Code: 53. TYPE_MISMATCH")]
    letters, facts = dead_letters_for(batch.malformed, rejected, now_ms=5000)
    decoded = [decode_dead_letter(value) for _, value, _ in letters]
    assert [(d.reason, d.source_offset, d.service) for d in decoded] == [
        ("invalid_analytics_fact", 7, "sink"),
        ("clickhouse_rejected", 8, "sink"),
    ]
    assert decoded[1].error == "Code: 53. TYPE_MISMATCH" and decoded[1].page_id == "1001"
    assert decoded[1].original_bytes() == encode_fact(FACT)
    assert [k for k, _, _ in letters] == [b"1001:u1", b"1001:u1"]
    dead_facts = [decode_fact(value) for _, value in facts]
    assert [f.fact_id for f in dead_facts] == ["dlq:t.analytics:2:7", "dlq:t.analytics:2:8"]


def test_a_dead_letter_carries_its_source_records_trace_context() -> None:
    traced = new_trace()
    batch = Batch()
    add_record(batch, record(7, b"{oops", ((TRACEPARENT, traced.header()),)), now=1.0)
    add_record(batch, record(8, encode_fact(FACT)), now=1.0)  # no traceparent
    rows = batch.tables["messages"]
    rejected = [Rejected("messages", rows.values[0], rows.sources[0], "Code: 53.")]
    letters, _ = dead_letters_for(batch.malformed, rejected, now_ms=5000)
    assert [headers for _, _, headers in letters] == [[(TRACEPARENT, traced.header())], []]
    assert context_of(letters[0][2]) == traced


def test_a_refused_dead_letter_row_gets_no_new_fact() -> None:
    batch = Batch()
    dead_fact = orjson.dumps(
        {
            "fact": "dead_lettered",
            "schema_version": 1,
            "fact_id": "dlq:x",
            "dead_letter_id": "x",
            "source_topic": "inbound",
            "service": "processors",
            "reason": "r",
            "page_id": "1",
            "failed_at_ms": 1,
        }
    )
    add_record(batch, record(1, dead_fact), now=1.0)
    rows = batch.tables["dead_letters"]
    assert ("dead_letters", rows.values[0]) == row_for(decode_fact(dead_fact))
    refused = Rejected("dead_letters", rows.values[0], rows.sources[0], "refused")
    letters, facts = dead_letters_for([], [refused], now_ms=1)
    assert len(letters) == 1 and facts == []


FACTS: list[Fact] = [
    FACT,
    MessageReceived(
        "msg:e2",
        "e2",
        1,
        2,
        3,
        "instagram",
        "1001",
        "1001:u2",
        "u2",
        "in",
        "message",
        text_length=4,
        attachment_types=["image", "audio"],
        rate_limited=True,
    ),
    ReplyPlanned("plan:c1", "c1", "e1", "1001", "1001:u1", "rules", "pricing", 1030, 1000),
    DeliveryResult(
        "dlv:c1:delivered:1",
        "c1",
        "1001",
        "1001:u1",
        "delivered",
        1,
        1100,
        1500,
        400,
        event_received_at_ms=1000,
        message_id="m1",
    ),
    DeadLettered("dlq:x", "x", "inbound", "processors", "bad", "1001", 2000),
]
ODD_VALUES = [True, False, 1, 0, -1, 1.5, "x", "", None, [], ["a", 1], {}]


def variants(good: dict[str, object]) -> list[object]:
    """The record, each field left out, and each field set to each odd value."""
    out: list[object] = [good, {**good, "extra": 1}, [1, 2], "text", 3]
    for name in good:
        out.append({k: v for k, v in good.items() if k != name})
        out += [{**good, name: value} for value in ODD_VALUES]
    return out


def test_fast_decoder_agrees_with_the_contract_decoder() -> None:
    checked = 0
    for fact in FACTS:
        for case in variants(orjson.loads(encode_fact(fact))):
            payload = orjson.dumps(case)
            try:
                expected: object = row_for(decode_fact(payload))
            except SchemaError as exc:
                with pytest.raises(SchemaError) as caught:
                    decode_row(payload)
                assert str(caught.value) == str(exc)
                continue
            assert decode_row(payload) == expected
            checked += 1
    assert checked > len(FACTS)  # valid variants (a default left out, an extra key) were seen
