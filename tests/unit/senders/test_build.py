from __future__ import annotations

import pytest

from schemas.commands import OutboundCommand
from senders.build import build_calls, check_command, split_text


def command(message: dict[str, object] | None = None, **fields: object) -> OutboundCommand:
    values: dict[str, object] = {
        "command_id": "cmd_1",
        "page_id": "1001",
        "recipient_id": "u1",
        "conversation_id": "1001:u1",
        "created_at_ms": 1,
        "message": message,
    }
    values.update(fields)
    return OutboundCommand(**values)  # type: ignore[arg-type]


def test_split_text_on_word_boundaries_keeps_every_word_in_order() -> None:
    text = " ".join(f"w{i}" for i in range(1500))
    parts = split_text(text, 2000)
    assert all(0 < len(p) <= 2000 for p in parts)
    assert " ".join(parts) == text
    assert not any(p.startswith(" ") or p.endswith(" ") for p in parts)


def test_split_text_cuts_a_word_longer_than_the_limit() -> None:
    assert split_text("a" * 25, 10) == ["a" * 10, "a" * 10, "a" * 5]
    assert split_text("short") == ["short"]


def test_text_message_body_is_metas_shape() -> None:
    [call] = build_calls(command({"text": "hi"}))
    assert call.body == {
        "recipient": {"id": "u1"},
        "messaging_type": "RESPONSE",
        "message": {"text": "hi", "metadata": "hookstream:cmd_1:0"},
    }


def test_tagged_message_carries_the_tag() -> None:
    [call] = build_calls(
        command({"text": "hi"}, messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT"), tag_metadata=False
    )
    assert call.body["tag"] == "HUMAN_AGENT" and "metadata" not in call.body["message"]


def test_long_text_with_quick_replies_after_typing_on() -> None:
    quick = [{"content_type": "text", "title": "Yes", "payload": "Y"}]
    calls = build_calls(command({"text": "word " * 900, "quick_replies": quick}), typing_on=True)
    assert calls[0].body == {"recipient": {"id": "u1"}, "sender_action": "typing_on"}
    assert not calls[0].is_message and calls[0].part == -1
    messages = calls[1:]
    assert [c.part for c in messages] == [0, 1, 2]
    assert [("quick_replies" in c.body["message"]) for c in messages] == [False, False, True]


def test_sender_action_alone_and_no_typing_before_it() -> None:
    [call] = build_calls(command(None, sender_action="mark_seen"), typing_on=True)
    assert call.body == {
        "recipient": {"id": "u1"},
        "messaging_type": "RESPONSE",
        "sender_action": "mark_seen",
    }


@pytest.mark.parametrize(
    "message,problem",
    [
        ({"text": "ok"}, None),
        ({"attachment": {"type": "image", "payload": {"url": "https://x/a.png"}}}, None),
        ({"attachment": {"type": "image", "payload": {"attachment_id": "123"}}}, None),
        ({"attachment": {"type": "image", "payload": {}}}, "attachment needs"),
        ({"text": "  "}, "non-empty text"),
        ({"text": "x", "quick_replies": [{}] * 14}, "at most 13"),
    ],
)
def test_check_command(message: dict[str, object], problem: str | None) -> None:
    found = check_command(command(message))
    assert found == problem if problem is None else problem in (found or "")
