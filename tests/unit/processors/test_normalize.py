from __future__ import annotations

from typing import Any

import pytest

from processors.errors import UnknownShape
from processors.normalize import normalize
from schemas.envelope import InboundEnvelope
from schemas.messages import decode_message
from tests.support.meta_samples import CHANGES, IG, INSTAGRAM, MESSENGER, PAGE, T_MS, T_S
from tests.support.processors_unit import envelopes

KNOWN_MESSENGER = [s for s in MESSENGER if s[2] != "unknown"]


def one(obj: str, page: str, event: dict[str, Any]) -> InboundEnvelope:
    [envelope] = envelopes(obj, {"id": page, "time": T_MS, "messaging": [event]})
    return envelope


@pytest.mark.parametrize(
    ("name", "event", "kind", "user"), KNOWN_MESSENGER, ids=[s[0] for s in KNOWN_MESSENGER]
)
def test_every_messenger_kind_normalizes(
    name: str, event: dict[str, Any], kind: str, user: str
) -> None:
    message = normalize(one("page", PAGE, event))
    assert (message.kind, message.user_id, message.page_id) == (kind, user, PAGE)
    assert message.conversation_id == f"{PAGE}:{user}"
    assert message.platform == "messenger" and message.event_time_ms == T_MS
    assert decode_message(message.encode()) == message


@pytest.mark.parametrize(
    ("name", "event", "kind", "user"), INSTAGRAM, ids=[s[0] for s in INSTAGRAM]
)
def test_every_instagram_kind_normalizes(
    name: str, event: dict[str, Any], kind: str, user: str
) -> None:
    message = normalize(one("instagram", IG, event))
    assert (message.kind, message.user_id, message.platform) == (kind, user, "instagram")
    assert decode_message(message.encode()) == message


KNOWN_CHANGES = [c for c in CHANGES if c[3] != "unknown"]


@pytest.mark.parametrize(
    ("obj", "field", "value", "kind", "user"),
    KNOWN_CHANGES,
    ids=[f"{c[0]}-{c[1]}-{c[3]}" for c in KNOWN_CHANGES],
)
def test_every_change_kind_normalizes(
    obj: str, field: str, value: dict[str, Any], kind: str, user: str
) -> None:
    [envelope] = envelopes(
        obj, {"id": PAGE, "time": T_S, "changes": [{"field": field, "value": value}]}
    )
    message = normalize(envelope)
    assert (message.kind, message.user_id, message.source) == (kind, user, "changes")
    assert message.event_time_ms == T_S * 1000
    assert message.mid
    assert decode_message(message.encode()) == message


def by_name(name: str) -> dict[str, Any]:
    return next(s[1] for s in MESSENGER + INSTAGRAM if s[0] == name)


def test_text_quick_reply_reply_to_and_referral_are_kept() -> None:
    assert normalize(one("page", PAGE, by_name("text"))).text == "Hello \u00e4 / price"
    quick = normalize(one("page", PAGE, by_name("quick_reply")))
    assert (quick.quick_reply_payload, quick.payload, quick.direction) == ("BUY", "BUY", "in")
    assert normalize(one("page", PAGE, by_name("reply_to"))).reply_to == {"mid": "m_text"}
    assert normalize(one("page", PAGE, by_name("message_referral"))).referral == {
        "product": {"id": "1"}
    }
    story = normalize(one("instagram", IG, by_name("ig_story_reply")))
    assert story.reply_to == {"story_id": "st1", "story_url": "https://x/s"}


def test_attachments_keep_type_url_and_ids() -> None:
    sticker = normalize(one("page", PAGE, by_name("sticker")))
    assert sticker.attachment_types == ["sticker"]
    assert sticker.attachments[0].ids == {"sticker_id": "369239263222822"}
    reel = normalize(one("instagram", IG, by_name("ig_reel"))).attachments[0]
    assert (reel.type, reel.url, reel.ids) == ("ig_reel", "https://x/r", {"reel_video_id": "1"})
    location = normalize(one("page", PAGE, by_name("location"))).attachments[0]
    assert location.ids == {"lat": "52.5", "long": "13.4"}
    assert normalize(one("page", PAGE, by_name("fallback"))).attachments[0].url == "https://x"


def test_directions_echo_out_reads_none_messages_in() -> None:
    assert normalize(one("page", PAGE, by_name("echo"))).direction == "out"
    assert normalize(one("page", PAGE, by_name("read"))).direction == "none"
    assert normalize(one("page", PAGE, by_name("delivery"))).direction == "none"
    assert normalize(one("page", PAGE, by_name("text"))).direction == "in"


def test_postback_reaction_and_watermarks() -> None:
    post = normalize(one("page", PAGE, by_name("postback_referral")))
    assert (post.postback_payload, post.postback_title) == ("GET_STARTED", "Start")
    assert post.referral == {"ref": "ad", "source": "ADS"}
    reaction = normalize(one("page", PAGE, by_name("reaction")))
    assert reaction.reaction == {
        "action": "react",
        "reaction": "love",
        "emoji": "\u2764",
        "mid": "m_echo",
    }
    delivery = normalize(one("page", PAGE, by_name("delivery")))
    assert (delivery.watermark_ms, delivery.delivered_mids) == (T_MS, ("m_echo",))
    seen = normalize(one("instagram", IG, by_name("ig_seen")))
    assert (seen.kind, seen.mid, seen.watermark_ms) == ("read", "ig_e1", None)


def test_tokens_are_not_kept_in_details() -> None:
    optin = normalize(one("page", PAGE, by_name("optin_notification")))
    assert optin.details == {
        "type": "notification_messages",
        "payload": "P",
        "token_expiry_timestamp": T_MS,
    }
    linking = normalize(one("page", PAGE, by_name("account_linking")))
    assert linking.details == {"status": "linked"}


def test_instagram_login_messages_in_changes_normalize_as_messages() -> None:
    value = {
        "sender": {"id": "9"},
        "recipient": {"id": IG},
        "timestamp": T_MS,
        "message": {"mid": "x1", "text": "hi"},
    }
    [envelope] = envelopes(
        "instagram", {"id": IG, "time": T_MS, "changes": [{"field": "messages", "value": value}]}
    )
    message = normalize(envelope)
    assert (message.kind, message.text, message.user_id, message.source) == (
        "message",
        "hi",
        "9",
        "changes",
    )


def test_feed_post_by_the_page_itself_is_outgoing() -> None:
    value = {
        "item": "post",
        "verb": "add",
        "post_id": "1_2",
        "message": "ours",
        "from": {"id": PAGE},
        "created_time": T_S,
    }
    [envelope] = envelopes(
        "page", {"id": PAGE, "time": T_S, "changes": [{"field": "feed", "value": value}]}
    )
    message = normalize(envelope)
    assert (message.direction, message.text, message.details["item"]) == ("out", "ours", "post")


@pytest.mark.parametrize(
    "entry",
    [
        {"id": PAGE, "time": T_MS, "messaging": [{"sender": {"id": "1"}, "brand_new": {}}]},
        {"id": PAGE, "time": T_S, "changes": [{"field": "mystery_field", "value": {"x": 1}}]},
        {
            "id": PAGE,
            "time": T_MS,
            "messaging": [{"sender": {"id": "1"}, "message": "not an object"}],
        },
        {"id": PAGE, "time": T_MS, "messaging": ["not an object"]},
    ],
    ids=["unknown-messaging", "unknown-change", "message-not-object", "event-not-object"],
)
def test_what_cannot_be_understood_raises_unknown_shape(entry: dict[str, Any]) -> None:
    [envelope] = envelopes("page", entry)
    with pytest.raises(UnknownShape):
        normalize(envelope)
