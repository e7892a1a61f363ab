"""The normalized message: one webhook event of any kind, as the processors understand it.

Messenger, Instagram and Page feed changes all map onto this one shape (versioned), so that
everything downstream (state, rules, responders, analytics) reads one structure, never Meta's JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schemas.records import build, encode_record, load_json_object

MESSAGE_SCHEMA_VERSION = 1
DIRECTIONS = ("in", "out", "none")


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attachment: its type and where it is (url) or what it refers to (ids)."""

    type: str  # image | audio | video | file | sticker | fallback | location | reel | post | ...
    url: str = ""
    ids: dict[str, str] = field(default_factory=dict)  # sticker_id, reel_video_id, story id...
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "url": self.url, "ids": self.ids, "title": self.title}


@dataclass(frozen=True, slots=True)
class NormalizedMessage:
    """Who, what and when of one event, platform-independent."""

    event_id: str
    platform: str  # messenger | instagram | facebook
    page_id: str
    user_id: str
    conversation_id: str
    direction: str  # in (user → page) | out (page echo / page's own post) | none
    kind: str
    event_time_ms: int
    received_at_ms: int
    source: str = "messaging"  # messaging | standby | changes
    mid: str = ""  # Meta's id of the message / comment / post the event is about
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    quick_reply_payload: str | None = None
    postback_payload: str | None = None
    postback_title: str = ""
    reply_to: dict[str, str] | None = None  # {"mid": ...} or {"story_id": ..., "story_url": ...}
    referral: dict[str, Any] | None = None
    reaction: dict[str, str] | None = None  # {"action", "reaction", "emoji", "mid"}
    watermark_ms: int | None = None  # read / delivery watermark
    delivered_mids: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)  # kind-specific extras (optin, ...)
    test: bool = False
    schema_version: int = MESSAGE_SCHEMA_VERSION

    @property
    def attachment_types(self) -> list[str]:
        return [attachment.type for attachment in self.attachments]

    @property
    def payload(self) -> str | None:
        """The payload a rule can match: postback first, then quick reply."""
        return self.postback_payload or self.quick_reply_payload

    def encode(self) -> bytes:
        return encode_record(self)


def decode_message(payload: bytes | None) -> NormalizedMessage:
    data = load_json_object(payload, "normalized message")
    data["attachments"] = tuple(
        Attachment(**item) for item in data.get("attachments", []) if isinstance(item, dict)
    )
    data["delivered_mids"] = tuple(data.get("delivered_mids", []))
    return build(NormalizedMessage, data, MESSAGE_SCHEMA_VERSION, "normalized message")
