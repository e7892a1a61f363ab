"""Who, what and when of one webhook event, as plain functions over Meta's JSON.

Used by the ingress (to key and wrap events) and the processors (to normalize them). The event id
is deterministic from the event itself, so a redelivered event gets the same id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from schemas.timestamps import to_millis

NO_USER = "_"
TEST_ENTRY_ID = "0"
MAX_USER_ID_CHARS = 128  # PSIDs and IGSIDs are ~17 digits

# Checked in this order: the first key present names the kind.
_MESSAGING_KEYS = (
    "message_edit",
    "message",
    "postback",
    "reaction",
    "read",
    "delivery",
    "referral",
    "optin",
    "account_linking",
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "app_roles",
    "policy_enforcement",
    "messaging_feedback",
)
MESSAGING_KEYS = _MESSAGING_KEYS
_CHANGE_KINDS = {
    ("instagram", "comments"): "comment",
    ("instagram", "live_comments"): "live_comment",
    ("instagram", "mentions"): "mention",
    ("instagram", "story_insights"): "story_insights",
    ("page", "mention"): "mention",
    ("page", "ratings"): "rating",
    ("page", "leadgen"): "leadgen",
}


@dataclass(frozen=True, slots=True)
class EventIdentity:
    kind: str
    page_id: str
    user_id: str
    event_id: str
    event_time_ms: int | None

    @property
    def conversation_id(self) -> str:
        return conversation_id(self.page_id, self.user_id)


def conversation_id(page_id: str, user_id: str) -> str:
    return f"{page_id}:{user_id}"


def as_id(value: object) -> str:
    """Meta sends ids as strings; some fixtures use numbers. Anything else is no id."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return ""


def is_user_id(value: object, page_id: str = "") -> bool:
    """A user id a reply can go to: a non-empty printable string without spaces, not the
    placeholder `_`, not the page itself, at most MAX_USER_ID_CHARS long."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_USER_ID_CHARS
        and value != NO_USER
        and value != page_id
        and value.isprintable()  # false for every space but U+0020 (Unicode's Zs, Zl, Zp, Cc)
        and " " not in value
    )


def platform_of(obj: str, source: str) -> str:
    if obj == "instagram":
        return "instagram"
    return "facebook" if source == "changes" else "messenger"


def _party(event: dict[str, Any], role: str) -> str:
    party = event.get(role)
    return as_id(party.get("id")) if isinstance(party, dict) else ""


def messaging_kind(event: dict[str, Any]) -> str:
    for key in _MESSAGING_KEYS:
        if key in event:
            if key != "message":
                return key
            message = event["message"] if isinstance(event["message"], dict) else {}
            if message.get("is_echo"):
                return "message_echo"
            return "message_deleted" if message.get("is_deleted") else "message"
    return "unknown"


def content_hash(value: Any) -> str:
    canonical = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(canonical, digest_size=12).hexdigest()


def _field(event: dict[str, Any], key: str) -> dict[str, Any]:
    value = event.get(key)
    return value if isinstance(value, dict) else {}


def messaging_event_id(kind: str, event: dict[str, Any], user_id: str) -> str:
    message = _field(event, "message")
    natural = ""
    if kind in ("message", "message_echo") and message.get("mid"):
        natural = as_id(message["mid"])
    elif kind == "message_deleted":
        natural = as_id(message.get("mid"))
    elif kind == "message_edit":
        edit = _field(event, "message_edit")
        natural = f"{as_id(edit.get('mid'))}:{edit.get('num_edit', '')}" if edit.get("mid") else ""
    elif kind == "reaction":
        reaction = _field(event, "reaction")
        natural = ":".join(str(reaction.get(k, "")) for k in ("mid", "action", "reaction"))
        natural = f"{natural}:{event.get('timestamp', '')}" if reaction.get("mid") else ""
    elif kind in ("read", "delivery"):
        mark = _field(event, kind)
        anchor = mark.get("watermark") or mark.get("mid")
        natural = f"{user_id}:{anchor}" if anchor else ""
    elif kind == "postback":
        natural = as_id(_field(event, "postback").get("mid"))
    return f"{kind}:{natural}" if natural else f"{kind}:h{content_hash(event)}"


def identify_messaging(entry_id: str, event: dict[str, Any]) -> EventIdentity:
    kind = messaging_kind(event)
    sender, recipient = _party(event, "sender"), _party(event, "recipient")
    if kind == "message_echo":
        user = recipient
    else:
        user = sender or _field(event, "optin").get("user_ref", "") or NO_USER
    page = entry_id or (sender if kind == "message_echo" else recipient)
    user = as_id(user) or NO_USER
    return EventIdentity(
        kind=kind,
        page_id=page,
        user_id=user,
        event_id=messaging_event_id(kind, event, user),
        event_time_ms=to_millis(event.get("timestamp")),
    )


def change_kind(obj: str, change: dict[str, Any]) -> str:
    field_name = change.get("field")
    if not isinstance(field_name, str):
        return "unknown"
    if obj == "page" and field_name == "feed":
        item = _field(change, "value").get("item")
        return f"feed_{item}" if isinstance(item, str) and item.isidentifier() else "feed"
    return _CHANGE_KINDS.get((obj, field_name), "unknown")


def _change_user(value: dict[str, Any]) -> str:
    for candidate in (
        _field(value, "from").get("id"),
        value.get("sender_id"),
        _field(value, "sender").get("id"),
    ):
        user = as_id(candidate)
        if user:
            return user
    return NO_USER


def identify_change(
    obj: str, entry_id: str, change: dict[str, Any], entry_time: object
) -> EventIdentity:
    value = _field(change, "value")
    if change.get("field") == "messages" and "message" in value:
        # Instagram API with Instagram Login delivers messages as changes: same shape inside.
        return identify_messaging(entry_id, value)
    kind = change_kind(obj, change)
    return EventIdentity(
        kind=kind,
        page_id=entry_id,
        user_id=_change_user(value),
        event_id=f"{kind}:h{content_hash(change)}",
        event_time_ms=to_millis(value.get("created_time")) or to_millis(entry_time),
    )
