"""Dead-letter selection and the redrive-once decision (pure)."""

from __future__ import annotations

from dataclasses import replace

from hookstream.ops.dlq_records import Selection, describe, plan_redrive, refusal, select
from hookstream.ops.dlq_topic import with_trace
from schemas.dlq import DeadLetter, dead_letter_for


def letter(
    offset: int, reason: str = "invalid_envelope", page: str = "1001", failed_at_ms: int = 1_000_000
) -> DeadLetter:
    return dead_letter_for(
        topic="hs.inbound",
        partition=0,
        offset=offset,
        key=b"1001:u",
        value=b'{"x":1}',
        reason=reason,
        error="bad",
        service="processors",
        failed_at_ms=failed_at_ms,
        page_id=page,
    )


def test_select_by_reason_page_and_time() -> None:
    letters = [
        letter(1),
        letter(2, reason="outside_window"),
        letter(3, page="2002"),
        letter(4, failed_at_ms=5_000_000),
    ]

    def ids(chosen: list[DeadLetter]) -> list[int]:
        return [x.source_offset for x in chosen]

    assert ids(select(letters, Selection(reason="outside_window"))) == [2]
    assert ids(select(letters, Selection(page_id="2002"))) == [3]
    assert ids(select(letters, Selection(since_ms=2_000_000))) == [4]
    assert ids(select(letters, Selection(until_ms=2_000_000, reason="invalid_envelope"))) == [1, 3]
    assert ids(select(letters, Selection(ids=("hs.inbound:0:2",)))) == [2]
    assert Selection().empty and not Selection(page_id="1").empty


def test_redrive_each_letter_once() -> None:
    letters = [letter(1), letter(2), letter(1)]  # a letter can be on the dlq twice
    plan = plan_redrive(letters, redriven={"hs.inbound:0:2"})
    assert [x.dead_letter_id for x in plan.send] == ["hs.inbound:0:1"]
    assert [x.dead_letter_id for x in plan.already] == ["hs.inbound:0:2", "hs.inbound:0:1"]


def test_describe_shows_the_original_record_and_error() -> None:
    text = describe(letter(7), redriven=True)
    assert "hs.inbound partition 0 offset 7" in text and '{"x":1}' in text
    assert "error:     bad" in text and "redriven:  yes" in text


def test_a_truncated_original_is_refused_with_where_the_whole_record_is() -> None:
    cut = replace(letter(5), original_truncated=True)
    plan = plan_redrive([letter(1), cut, cut], redriven=set())
    assert [x.source_offset for x in plan.send] == [1]
    assert [x.source_offset for x in plan.refused] == [5]  # once, however often selected
    assert plan.already == ()
    why = refusal(cut)
    assert why.startswith("hs.inbound:0:5 not redriven: its original was too large")
    assert "at hs.inbound partition 0 offset 5" in why
    assert "head only, cannot be redriven" in describe(cut, redriven=False)


TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_the_trace_context_comes_from_the_dlq_record_header() -> None:
    plain = letter(1)
    assert with_trace(plain, [("traceparent", TRACEPARENT.encode())]).traceparent == TRACEPARENT
    assert with_trace(plain, [("traceparent", b"00-zz-nope")]).traceparent == ""
    assert with_trace(plain, None) is plain
    own = replace(plain, traceparent=TRACEPARENT)  # a writer that put it in the body wins
    other = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    assert with_trace(own, [("traceparent", other.encode())]).traceparent == TRACEPARENT
    assert f"trace:     {TRACEPARENT}" in describe(own, redriven=False)
