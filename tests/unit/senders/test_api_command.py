from __future__ import annotations

import pytest

from ingress.api import FieldError, command_from_request


def test_a_valid_request_becomes_a_command() -> None:
    command = command_from_request({"page_id": 1001, "recipient_id": "u", "text": "hi"}, 5, "k")
    assert (command.page_id, command.conversation_id, command.origin) == ("1001", "1001:u", "api")
    assert command.message == {"text": "hi"} and command.created_at_ms == 5
    again = command_from_request({"page_id": "1001", "recipient_id": "u", "text": "hi"}, 9, "k")
    assert again.command_id == command.command_id  # same idempotency key, same id
    other = command_from_request({"page_id": "1001", "recipient_id": "u", "text": "hi"}, 9)
    assert other.command_id != command.command_id


@pytest.mark.parametrize(
    "data,field",
    [
        ([], "body"),
        ({"recipient_id": "u", "text": "x"}, "page_id"),
        ({"page_id": "1", "text": "x"}, "recipient_id"),
        ({"page_id": "1", "recipient_id": "u"}, "text"),
        ({"page_id": "1", "recipient_id": "u", "text": ""}, "text"),
        ({"page_id": "1", "recipient_id": "u", "text": "x", "attachment": {}}, "text"),
        ({"page_id": "1", "recipient_id": "u", "attachment": {"type": "pdf"}}, "attachment"),
        (
            {"page_id": "1", "recipient_id": "u", "text": "x", "messaging_type": "X"},
            "messaging_type",
        ),
        (
            {"page_id": "1", "recipient_id": "u", "text": "x", "messaging_type": "MESSAGE_TAG"},
            "tag",
        ),
        ({"page_id": "1", "recipient_id": "u", "quick_replies": [{"title": "a"}]}, "quick_replies"),
        (
            {"page_id": "1", "recipient_id": "u", "text": "x", "quick_replies": [{"t": 1}]},
            "quick_replies",
        ),
        ({"page_id": "1", "recipient_id": "u", "sender_action": "dance"}, "sender_action"),
    ],
)
def test_invalid_requests_name_the_field(data: object, field: str) -> None:
    with pytest.raises(FieldError) as caught:
        command_from_request(data, 1)
    assert caught.value.field == field


def test_tagged_and_sender_action_requests() -> None:
    tagged = command_from_request(
        {
            "page_id": "1",
            "recipient_id": "u",
            "text": "x",
            "messaging_type": "MESSAGE_TAG",
            "tag": "HUMAN_AGENT",
        },
        1,
    )
    assert tagged.tag == "HUMAN_AGENT"
    action = command_from_request(
        {"page_id": "1", "recipient_id": "u", "sender_action": "typing_on"}, 1
    )
    assert action.sender_action == "typing_on" and action.message is None
