"""`POST /api/messages` bodies into OutboundCommands (ingress/api.py, ingress/api_validation.py).
The whole table of refusals runs over HTTP in tests/integration/test_api_messages.py."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookstream.runtime.pages import PageConfig, PagesConfig
from ingress.api import command_from_request
from ingress.api_validation import BODY_FIELDS, MAX_DEPTH, Invalid, depth, validate

PAGES = PagesConfig(
    {
        "1": PageConfig("1"),
        "1001": PageConfig("1001"),
        "ig1": PageConfig("ig1", platform="instagram"),
    }
)


def test_a_valid_request_becomes_a_command() -> None:
    body = {"page_id": 1001, "recipient_id": "u", "text": "hi"}
    command = command_from_request(body, PAGES, 5, "k")
    assert (command.page_id, command.conversation_id, command.origin) == ("1001", "1001:u", "api")
    assert command.message == {"text": "hi"} and command.created_at_ms == 5
    again = command_from_request({**body, "page_id": "1001"}, PAGES, 9, "k")
    assert again.command_id == command.command_id  # same idempotency key, same id
    other = command_from_request(body, PAGES, 9)
    assert other.command_id != command.command_id


def test_tagged_and_sender_action_requests() -> None:
    tagged = command_from_request(
        {
            "page_id": "1",
            "recipient_id": "u",
            "text": "x",
            "messaging_type": "MESSAGE_TAG",
            "tag": "HUMAN_AGENT",
        },
        PAGES,
        1,
    )
    assert tagged.tag == "HUMAN_AGENT"
    action = command_from_request(
        {"page_id": "1", "recipient_id": "u", "sender_action": "typing_on"}, PAGES, 1
    )
    assert action.sender_action == "typing_on" and action.message is None


def test_quick_replies_are_normalized() -> None:
    command = command_from_request(
        {
            "page_id": "1",
            "recipient_id": "u",
            "text": "x",
            "quick_replies": [
                {"title": "Yes"},
                {"content_type": "user_email"},
                {"title": "No", "payload": "NO", "image_url": "https://example.com/no.png"},
            ],
        },
        PAGES,
        1,
    )
    assert command.message is not None
    assert command.message["quick_replies"] == [
        {"content_type": "text", "title": "Yes", "payload": "Yes"},
        {"content_type": "user_email"},
        {
            "content_type": "text",
            "title": "No",
            "payload": "NO",
            "image_url": "https://example.com/no.png",
        },
    ]


@pytest.mark.parametrize(
    "data,code,field",
    [
        ([], "invalid_body", "body"),
        ({"recipient_id": "u", "text": "x"}, "missing_field", "page_id"),
        ({"page_id": "404", "recipient_id": "u", "text": "x"}, "unknown_page", "page_id"),
        (
            {"page_id": "1", "recipient_id": "u", "text": "x", "quick_replies": [{"title": "a"}]},
            "",
            "",
        ),
        (
            {"page_id": "1", "recipient_id": "u", "text": "x", "quick_replies": [{"payload": "P"}]},
            "missing_field",
            "quick_replies[0].title",
        ),
        (
            {
                "page_id": "1",
                "recipient_id": "u",
                "text": "x",
                "quick_replies": [{"title": "a", "payload": {"k": [1, 2]}}],
            },
            "invalid_type",
            "quick_replies[0].payload",
        ),
        (
            {
                "page_id": "ig1",
                "recipient_id": "u",
                "text": "x",
                "quick_replies": [{"content_type": "user_email"}],
            },
            "invalid_value",
            "quick_replies[0].content_type",
        ),
        (
            {
                "page_id": "1",
                "recipient_id": "u",
                "text": "x",
                "messaging_type": "MESSAGE_TAG",
                "tag": "POST_PURCHASE_UPDATE",
            },
            "invalid_value",
            "tag",
        ),
    ],
)
def test_refusals_name_the_code_and_the_field(data: Any, code: str, field: str) -> None:
    if not code:
        validate(data, PAGES)
        return
    with pytest.raises(Invalid) as caught:
        validate(data, PAGES)
    assert (caught.value.code, caught.value.field) == (code, field)


def test_a_retired_tag_says_when_it_was_retired() -> None:
    with pytest.raises(Invalid, match="retired by Meta on 2026-04-27"):
        validate(
            {
                "page_id": "1",
                "recipient_id": "u",
                "text": "x",
                "messaging_type": "MESSAGE_TAG",
                "tag": "ACCOUNT_UPDATE",
            },
            PAGES,
        )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=40,
)
fields = st.sampled_from(sorted(BODY_FIELDS))
quick_reply = st.fixed_dictionaries(
    {},
    optional={
        "content_type": st.sampled_from(["text", "user_email", "user_phone_number", "x"]),
        "title": st.text(max_size=25) | json_values,
        "payload": st.text(max_size=30) | json_values,
        "image_url": st.just("https://example.com/i.png") | json_values,
    },
)
attachment = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["image", "video", "template", "pdf"]),
        "payload": st.fixed_dictionaries(
            {},
            optional={
                "url": st.just("https://example.com/a.png") | json_values,
                "attachment_id": st.just("123") | json_values,
                "template_type": st.sampled_from(["button", "generic", "media", "nope"]),
                "text": st.text(max_size=10),
                "buttons": json_values,
                "elements": json_values,
            },
        )
        | json_values,
    },
)
near_valid = st.fixed_dictionaries(
    {"page_id": st.sampled_from(["1", "ig1", 1, "404"]), "recipient_id": st.just("u")},
    optional={
        "text": st.text(max_size=40) | json_values,
        "attachment": attachment | json_values,
        "quick_replies": st.lists(quick_reply, max_size=14) | json_values,
        "messaging_type": st.sampled_from(["RESPONSE", "UPDATE", "MESSAGE_TAG"]) | json_values,
        "tag": st.sampled_from(["HUMAN_AGENT", "ACCOUNT_UPDATE"]) | json_values,
        "sender_action": st.sampled_from(["typing_on", "dance"]) | json_values,
    },
)


@given(near_valid | st.dictionaries(fields, json_values, max_size=6) | json_values)
def test_any_json_is_either_a_command_or_a_refusal(data: Any) -> None:
    try:
        command = command_from_request(data, PAGES, 1)
    except Invalid as refused:
        assert refused.status in (400, 404, 422) and refused.code and refused.field
        return
    command.encode()  # whatever is accepted can be written to Kafka


def test_depth_counts_without_recursion_and_stops_at_its_limit() -> None:
    value: Any = "x"
    for _ in range(5000):
        value = [value]
    assert depth(value) == MAX_DEPTH + 1
    assert depth({"a": {"b": [1]}}) == 3
    assert depth("scalar") == 0
