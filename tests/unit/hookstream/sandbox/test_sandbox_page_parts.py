"""The sandbox page's pure parts: rejected calls as kept, inbound notes, the timeline, counts."""

from __future__ import annotations

import time

import orjson

from hookstream.sandbox.app import Reply
from hookstream.sandbox.front import inbound_message, rejected_call
from hookstream.sandbox.html import PageView, render, timeline
from hookstream.sandbox.store import Store


def test_a_rejected_call_keeps_metas_error_and_what_was_tried() -> None:
    body = orjson.dumps({"recipient": {"id": "u1"}, "message": {"text": "x" * 900}})
    error = {"error": {"code": 100, "error_subcode": 2018001, "message": "(#100) No user"}}
    call = rejected_call("1001", body, Reply(400, orjson.dumps(error)))
    assert (call["page_id"], call["recipient_id"], call["status"]) == ("1001", "u1", 400)
    assert (call["code"], call["subcode"], call["message"]) == (100, 2018001, "(#100) No user")
    assert len(call["text"]) == 500  # client-supplied text is truncated


def test_a_rejected_call_that_is_not_json_or_not_metas_shape() -> None:
    html = Reply(502, b"<html>Bad gateway</html>", b"text/html")
    call = rejected_call("1001", b"{", html)
    assert call["recipient_id"] == "" and call["code"] is None
    assert call["message"] == "<html>Bad gateway</html>"


def test_inbound_notes_are_checked() -> None:
    note = inbound_message({"page_id": 1001, "sender_id": "u1", "text": "hi", "mid": "m"})
    assert note is not None and (note["page_id"], note["text"]) == ("1001", "hi")
    assert inbound_message({"page_id": "1001", "sender_id": "u1"}) is None
    assert inbound_message(["not", "an", "object"]) is None


def test_each_reply_sits_beside_the_message_before_it() -> None:
    said = [{"at_ms": 1000, "text": "hi <b>"}, {"at_ms": 5000, "text": "price?"}]
    replies = [
        {"received_at_ms": 1500, "text": "Hello", "messaging_type": "RESPONSE"},
        {"received_at_ms": 1600, "text": "Anything else?", "messaging_type": "RESPONSE"},
        {"received_at_ms": 5200, "text": "9 EUR", "messaging_type": "RESPONSE"},
    ]
    rows = [(at, user, page.split(" <small")[0]) for at, user, page, _ in timeline(replies, said)]
    assert rows == [
        (1000, "hi &lt;b&gt;", "Hello"),
        (1600, "", "Anything else?"),
        (5000, "price?", "9 EUR"),
    ]


def test_counts_follow_the_filter_and_say_what_they_count() -> None:
    store = Store()
    for user in ("u1", "u2", "u2"):
        store.add("1001", {"recipient": {"id": user}, "message": {"text": f"to {user}"}})
    rejected = [{"at_ms": 1, "page_id": "1001", "recipient_id": "u1", "status": 400,
                 "code": 190, "subcode": None, "message": "bad token", "text": None}]  # fmt: skip
    everything = render(PageView(store, rejected=rejected))
    assert "<b>3</b> replies accepted (all pages)" in everything
    assert "<b>2</b> conversations (all pages)" in everything
    only_u2 = render(PageView(store, rejected=rejected, recipient_id="u2"))
    assert "<b>2</b> replies accepted (matching user u2)" in only_u2
    assert "<b class=ok>0</b> calls rejected" in only_u2 and "to u1" not in only_u2
    assert "3 calls accepted, 0 rejected" in only_u2  # the global counters, labelled as such


def test_the_store_alone_still_renders() -> None:
    store = Store()
    store.add("1001", {"recipient": {"id": "u1"}, "sender_action": "typing_on"})
    page = render(store)
    assert "[typing_on]" in page and "none: every valid call succeeds" in page


def test_conversations_known_only_from_what_users_said_are_counted_as_unanswered() -> None:
    store = Store()
    store.add("1001", {"recipient": {"id": "u1"}, "message": {"text": "hello"}})
    said = [
        {"page_id": "1001", "sender_id": "u1", "text": "hi", "at_ms": 1, "mid": ""},
        {"page_id": "1001", "sender_id": "u9", "text": "anyone?", "at_ms": 2, "mid": ""},
    ]
    page = render(PageView(store, inbound=said))
    assert "<b>2</b> conversations (all pages; 1 without a reply)" in page
    assert "anyone?" in page and "what the user said is not known" not in page


def test_inbound_notes_in_a_list_keep_their_time() -> None:
    note = inbound_message(
        {"page_id": "1", "sender_id": "u", "text": "t", "at_ms": int(time.time() * 1000) - 5000}
    )
    assert note is not None and time.time() * 1000 - note["at_ms"] >= 5000
    far = inbound_message({"page_id": "1", "sender_id": "u", "text": "t", "at_ms": 1})
    assert far is not None and far["at_ms"] > 1  # implausible times become now
