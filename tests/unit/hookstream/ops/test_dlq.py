"""Dead-letter selection and the redrive-once decision (pure)."""

from __future__ import annotations

from hookstream.ops.dlq_records import Selection, describe, plan_redrive, select
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
    ids = lambda chosen: [x.source_offset for x in chosen]  # noqa: E731
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
