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
    assert "delivered after 2 attempt(s)" in text and "webhook -> delivered 98 ms" in text
    assert no_reply_reasons(story) == []


def test_a_message_without_a_reply_says_why() -> None:
    story = facts(
        messages=[msg("message:m1", T0), msg("message:m2", T0 + 10, rate_limited=True)],
        replies=[PLAN],
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
