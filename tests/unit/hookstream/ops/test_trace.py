"""The trace timeline as pure functions over fact rows (the shape sinks.trace returns)."""

from __future__ import annotations

from typing import Any

import pytest

from hookstream.ops.trace import as_json, found, no_reply_reasons, render_timeline, timeline
from sinks.trace import BadTraceId, TraceQuery

T0 = 1_767_225_600_000


def msg(event_id: str, at: int, **extra: Any) -> dict[str, Any]:
    row = {
        "event_id": event_id,
        "kind": "message",
        "direction": "in",
        "page_id": "1001",
        "conversation_id": "1001:u1",
        "user_id": "u1",
        "platform": "messenger",
        "ts_ms": at,
        "event_time_ms": at - 40,
        "processed_at_ms": at + 5,
        "processing_ms": 5,
        "text_length": 2,
        "attachment_types": [],
        "rate_limited": False,
        "test": False,
    }
    return row | extra


def facts(**tables: Any) -> dict[str, Any]:
    base = {"id": "m1", "messages": [], "replies": [], "deliveries": [], "dead_letters": []}
    return base | tables


PLAN = {
    "command_id": "cmd1",
    "event_id": "message:m1",
    "responder": "rules",
    "rule_id": "pricing",
    "messaging_type": "RESPONSE",
    "planned_at_ms": T0 + 8,
    "plan_ms": 8,
}
DELIVERED = {
    "command_id": "cmd1",
    "status": "delivered",
    "attempts": 2,
    "latency_ms": 90,
    "is_error": False,
    "error_code": 0,
    "error_subcode": 0,
    "error_message": "",
    "message_id": "mid.out",
    "has_e2e": True,
    "e2e_ms": 98,
    "ts_ms": T0 + 98,
}


def test_steps_follow_the_message_in_time_order() -> None:
    story = facts(messages=[msg("message:m1", T0)], replies=[PLAN], deliveries=[DELIVERED])
    assert [(s.at_ms - T0, s.what) for s in timeline(story)] == [
        (0, "received"),
        (5, "processed"),
        (8, "planned"),
        (98, "delivery"),
    ]
    text = render_timeline(story)
    assert "reply cmd1 by rules rule pricing" in text
    origin = {"request_id": "req7", "source_topic": "hs.inbound", "source_partition": 2,
              "source_offset": 40}  # fmt: skip
    [received] = [s for s in timeline(facts(messages=[msg("message:m1", T0, **origin)]))
                  if s.what == "received"]  # fmt: skip
    assert received.detail.endswith("; request req7, hs.inbound partition 2 offset 40")
    assert "delivered after 2 attempt(s)" in text and "webhook -> delivered 98 ms" in text
    assert no_reply_reasons(story) == []


def test_a_message_without_a_reply_says_why() -> None:
    story = facts(
        messages=[msg("message:m1", T0), msg("message:m2", T0 + 10, rate_limited=True)],
        replies=[PLAN],
        deliveries=[DELIVERED],
    )
    assert no_reply_reasons(story) == ["message:m2: no reply planned (rate-limited)"]
    echo = facts(messages=[msg("message:m3", T0, direction="out")])
    assert no_reply_reasons(echo) == []  # the page's own echo is not owed a reply


def test_meta_errors_and_json_shape() -> None:
    failed = DELIVERED | {"status": "dead_lettered", "is_error": True, "error_code": 10,
                          "error_subcode": 2018278, "error_message": "outside window",
                          "has_e2e": False, "message_id": ""}  # fmt: skip
    story = facts(messages=[msg("message:m1", T0)], replies=[PLAN], deliveries=[failed])
    assert "Meta error 10/2018278: outside window" in render_timeline(story)
    body = as_json(story)
    assert [s["what"] for s in body["steps"]] == ["received", "processed", "planned", "delivery"]
    assert body["facts"]["deliveries"] == [failed]
    assert found(story) and not found(facts())


@pytest.mark.parametrize("text", ["", "   ", "x" * 301, "bad\nid", "tab\tid"])
def test_malformed_ids_are_refused_with_what_is_accepted(text: str) -> None:
    with pytest.raises(BadTraceId, match="a Meta message id"):
        TraceQuery.parse(text, 0, 10)


def test_a_window_must_have_length() -> None:
    with pytest.raises(BadTraceId, match="after its start"):
        TraceQuery.parse("m1", 10, 10)


@pytest.mark.parametrize(
    ("reason", "says"),
    [
        ("rate_limited", "rate-limited: too many automatic replies"),
        ("outside_window", "outside the 24-hour window and the page has no outside_window_tag"),
        ("no_rule_matched", "no rule matched and the page has no fallback"),
        ("page_not_configured", "the page is not in the pages file"),
        ("responder_none", "the page's responder is none"),
        ("standby", "another app controls the thread"),
    ],
)
def test_every_silent_path_is_named(reason: str, says: str) -> None:
    story = facts(messages=[msg("message:m1", T0, no_reply=reason)])
    [note] = no_reply_reasons(story)
    assert note.startswith("message:m1: no reply planned (") and says in note
    processed = next(s for s in timeline(story) if s.what == "processed")
    assert says in processed.detail


def test_a_fact_from_before_no_reply_existed_lists_what_it_can_be() -> None:
    [note] = no_reply_reasons(facts(messages=[msg("message:m1", T0)]))
    assert "no rule, responder or fallback" in note and "24-hour window" in note


def dup(offset: int, at: int) -> dict[str, Any]:
    return {
        "fact_id": f"dup:message:m1:hs.inbound:0:{offset}",
        "event_id": "message:m1",
        "page_id": "1001",
        "conversation_id": "1001:u1",
        "platform": "messenger",
        "kind": "message",
        "ts_ms": at,
        "first_received_at_ms": T0,
        "processed_at_ms": at + 3,
        "request_id": f"req{offset}",
        "source_topic": "hs.inbound",
        "source_partition": 0,
        "source_offset": offset,
    }


def test_redeliveries_are_steps_and_a_note() -> None:
    story = facts(
        messages=[msg("message:m1", T0)],
        replies=[PLAN],
        deliveries=[DELIVERED],
        duplicates=[dup(9, T0 + 40_000), dup(4, T0 + 500)],
    )
    steps = [s for s in timeline(story) if s.what == "redelivered"]
    assert [s.at_ms - T0 for s in steps] == [500, 40_000]
    assert "(copy 2, 500 ms after the first)" in steps[0].detail
    assert "(copy 3, 40.0 s after the first)" in steps[1].detail
    assert "request req9, hs.inbound partition 0 offset 9" in steps[1].detail
    [note] = no_reply_reasons(story)
    assert note.startswith("message:m1: Meta sent it 3 times; the 2 later copies (last at ")
    assert note.endswith(") were dropped as duplicates")
    [one] = no_reply_reasons(facts(duplicates=[dup(4, T0 + 500)]))
    assert one.startswith("message:m1: Meta sent it 2 times; the later copy (at ")
    assert one.endswith(") was dropped as a duplicate")
    text = render_timeline(story)
    assert "redelivered" in text and "dropped as a duplicate" in text
    assert as_json(story)["facts"]["duplicates"][0]["source_offset"] == 9
    assert found(facts(duplicates=[dup(4, T0)]))  # a copy alone is found too


@pytest.mark.parametrize(
    ("outcomes", "says"),
    [
        ([], "no delivery outcome yet"),
        (
            [DELIVERED | {"status": "retried", "attempts": 1, "error_code": 2}],
            "still being retried (1 failed attempt(s)) (Meta error 2/0)",
        ),
        (
            [
                DELIVERED
                | {
                    "status": "dead_lettered",
                    "error_code": 190,
                    "error_message": "Meta error 190/0: bad",
                }
            ],
            "dead-lettered (Meta error 190/0: bad)",
        ),
        ([DELIVERED | {"status": "held", "error_code": 368}], "held: its page is stopped"),
    ],
)
def test_a_planned_reply_not_delivered_says_why(outcomes: list[Any], says: str) -> None:
    story = facts(messages=[msg("message:m1", T0)], replies=[PLAN], deliveries=outcomes)
    [note] = no_reply_reasons(story)
    assert note.startswith("message:m1: reply cmd1 not delivered: ") and says in note
