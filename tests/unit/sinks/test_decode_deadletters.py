from __future__ import annotations

from dataclasses import dataclass

import orjson

from schemas.analytics import MessageReceived, decode_fact, encode_fact
from schemas.dlq import decode_dead_letter
from sinks.batch import Batch
from sinks.deadletters import dead_letters_for
from sinks.decode import add_record
from sinks.rows import row_for
from sinks.writer import Rejected


@dataclass
class Record:
    offset: int
    value: bytes | None
    topic: str = "t.analytics"
    partition: int = 2
    key: bytes | None = b"1001:u1"


FACT = MessageReceived("msg:e1", "e1", 1, 2, 3, "messenger", "1001", "1001:u1", "u1", "in",
                       "message")


def test_facts_become_rows_and_garbage_becomes_malformed() -> None:
    batch = Batch()
    for offset, value in enumerate([encode_fact(FACT), b"{oops", None, b'{"fact": "nope"}']):
        add_record(batch, Record(offset, value), now=1.0)
    assert [r.fact_id for r, _ in batch.rows] == ["msg:e1"]
    assert [m.source.offset for m in batch.malformed] == [1, 2, 3]
    assert {m.reason for m in batch.malformed} == {"invalid_analytics_fact"}
    assert batch.commit_offsets() == {("t.analytics", 2): 4}


def test_dead_letters_carry_the_original_and_reason_plus_a_fact_each() -> None:
    batch = Batch()
    add_record(batch, Record(7, b"{oops"), now=1.0)
    add_record(batch, Record(8, encode_fact(FACT)), now=1.0)
    row, source = batch.rows[0]
    rejected = [Rejected(row, source, "Code: 53. TYPE_MISMATCH")]
    letters, facts = dead_letters_for(batch.malformed, rejected, now_ms=5000)
    decoded = [decode_dead_letter(value) for _, value in letters]
    assert [(d.reason, d.source_offset, d.service) for d in decoded] == [
        ("invalid_analytics_fact", 7, "sink"), ("clickhouse_rejected", 8, "sink")]
    assert decoded[1].error == "Code: 53. TYPE_MISMATCH" and decoded[1].page_id == "1001"
    assert decoded[1].original_bytes() == encode_fact(FACT)
    assert [k for k, _ in letters] == [b"1001:u1", b"1001:u1"]
    dead_facts = [decode_fact(value) for _, value in facts]
    assert [f.fact_id for f in dead_facts] == ["dlq:t.analytics:2:7", "dlq:t.analytics:2:8"]


def test_a_refused_dead_letter_row_gets_no_new_fact() -> None:
    batch = Batch()
    dead_fact = orjson.dumps({
        "fact": "dead_lettered", "schema_version": 1, "fact_id": "dlq:x", "dead_letter_id": "x",
        "source_topic": "inbound", "service": "processors", "reason": "r", "page_id": "1",
        "failed_at_ms": 1,
    })
    add_record(batch, Record(1, dead_fact), now=1.0)
    row, source = batch.rows[0]
    assert row == row_for(decode_fact(dead_fact))
    letters, facts = dead_letters_for([], [Rejected(row, source, "refused")], now_ms=1)
    assert len(letters) == 1 and facts == []


def test_fast_decoder_agrees_with_the_contract_decoder() -> None:
    import pytest

    from schemas.errors import SchemaError
    from sinks.decode import fast_decode_fact

    good = orjson.loads(encode_fact(FACT))
    cases = [good, {**good, "text_length": True}, {**good, "schema_version": 2},
             {k: v for k, v in good.items() if k != "page_id"}, {**good, "fact": "nope"},
             {**good, "attachment_types": "image"}, {**good, "extra": 1}, [1, 2]]
    for case in cases:
        payload = orjson.dumps(case)
        try:
            expected: object = decode_fact(payload)
        except SchemaError as exc:
            with pytest.raises(SchemaError) as caught:
                fast_decode_fact(payload)
            assert str(caught.value) == str(exc)
            continue
        assert fast_decode_fact(payload) == expected
