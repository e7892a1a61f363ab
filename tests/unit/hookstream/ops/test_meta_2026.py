"""What changed on Meta's side in 2026, as the services handle it: the page-restricted error
(10/1893063) stops a page, sticker attachments normalize once and stickers send, and the
sender's URL carries appsecret_proof and goes to graph.instagram.com for Instagram Login."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hookstream.runtime.pages import appsecret_proof, parse_pages
from hookstream.runtime.settings import Settings
from processors.normalize import normalize
from schemas.commands import OutboundCommand
from schemas.messages import decode_message
from senders.build import build_calls, check_command
from senders.classify import error_from_meta
from senders.errors import PageStoppedError, PermanentSendError
from senders.graph import GraphClient, page_routes
from tests.support.meta_samples import T_MS
from tests.support.processors_unit import envelopes

RESTRICTED = {
    "message": "(#10) This Page is temporarily restricted from sending messages.",
    "type": "OAuthException",
    "code": 10,
    "error_subcode": 1893063,
}


def test_a_temporarily_restricted_page_is_stopped_like_an_invalid_token() -> None:
    error = error_from_meta(400, RESTRICTED)
    assert isinstance(error, PageStoppedError) and error.stops_page
    assert (error.code, error.subcode) == (10, 1893063)
    other = error_from_meta(400, {**RESTRICTED, "error_subcode": 2018278})
    assert isinstance(other, PermanentSendError) and other.reason == "outside_window"


def test_a_sticker_sent_both_ways_during_the_transition_is_one_attachment() -> None:
    event: dict[str, Any] = {
        "sender": {"id": "u1"},
        "recipient": {"id": "1001"},
        "timestamp": T_MS,
        "message": {
            "mid": "m.sticker",
            "sticker_id": 369239263222822,
            "attachments": [
                {
                    "type": "image",
                    "payload": {"url": "https://x/s.png", "sticker_id": 369239263222822},
                },
                {
                    "type": "sticker",
                    "payload": {"url": "https://x/s.png", "sticker_id": 369239263222822},
                },
            ],
        },
    }
    [envelope] = envelopes("page", {"id": "1001", "time": T_MS, "messaging": [event]})
    message = decode_message(normalize(envelope).encode())
    assert [(a.type, a.ids["sticker_id"]) for a in message.attachments] == [
        ("sticker", "369239263222822")
    ]
    after = {
        **event,
        "message": {**event["message"], "attachments": event["message"]["attachments"][1:]},
    }
    [envelope] = envelopes("page", {"id": "1001", "time": T_MS, "messaging": [after]})
    assert decode_message(normalize(envelope).encode()).attachments[0].type == "sticker"


def test_a_sticker_reply_is_sendable() -> None:
    command = OutboundCommand(
        command_id="c1",
        page_id="1001",
        recipient_id="u1",
        conversation_id="1001:u1",
        created_at_ms=1,
        message={"sticker_id": 767226160478561},
    )
    assert check_command(command) is None
    [call] = build_calls(command, tag_metadata=False)
    assert call.body["message"] == {"sticker_id": 767226160478561}


PAGES = """
apps:
  main: {app_id: "1", app_secret: s3cret-app}
pages:
  "1001": {app: main}
  "178": {platform: instagram, login: instagram, app: main}
"""


async def test_sender_urls_carry_the_proof_and_the_instagram_host() -> None:
    settings = Settings.from_env({"HOOKSTREAM_SENDER_INSTAGRAM_API_BASE_URL": "https://ig.example"})
    pages = parse_pages(PAGES, Path("pages.yaml"), {})
    client = GraphClient(settings.sender, routes=page_routes(pages, settings))
    try:
        url = client.url("1001", "tok-1001")
        assert url.host == "graph.facebook.com" and url.path == "/v27.0/1001/messages"
        assert url.params["appsecret_proof"] == appsecret_proof("s3cret-app", "tok-1001")
        assert client.url("178", "tok-ig").host == "ig.example"
        assert "appsecret_proof" not in client.url("9", "tok-9").params  # unknown page: no secret
    finally:
        await client.close()


def test_person_not_available_of_2026_is_permanent_and_not_retried() -> None:
    error = error_from_meta(
        400, {"code": 2300052, "message": "This person is not available right now."}
    )
    assert isinstance(error, PermanentSendError) and error.reason == "person_unavailable"
    assert not error.retriable
