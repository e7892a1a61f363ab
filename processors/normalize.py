"""Envelope → NormalizedMessage, for every kind the ingress classifies (pure functions).

What cannot be understood raises `UnknownShape`; the adapter dead-letters it with the reason.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Any

from processors.errors import NoUser, UnknownShape
from schemas.envelope import InboundEnvelope
from schemas.events import as_id, is_user_id
from schemas.messages import Attachment, NormalizedMessage
from schemas.timestamps import MAX_EPOCH_MS, to_millis

# Kinds a reply can follow (core.REPLYABLE_KINDS): without a usable sender they are dead-lettered
# as `no_user` instead of being keyed to the placeholder user `_`.
USER_REQUIRED_KINDS = frozenset({"message", "postback"})
MAX_ID_CHARS = 200  # a longer event id or mid is cut and suffixed with its digest
MAX_DEPTH = 16  # kind-specific extras (details, referral) deeper than this are dropped
_INT64 = (-(2**63), 2**63 - 1)

_ID_KEYS = ("sticker_id", "reel_video_id", "id", "attachment_id", "product_id")
_NO_DIRECTION = {
    "read",
    "delivery",
    "app_roles",
    "policy_enforcement",
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "story_insights",
}
# Kinds whose sub-object (raw[key]) must be a JSON object.
_MESSAGING_OBJECT = {
    "message": "message",
    "message_echo": "message",
    "message_deleted": "message",
    "message_edit": "message_edit",
    "postback": "postback",
    "reaction": "reaction",
    "read": "read",
    "delivery": "delivery",
    "referral": "referral",
    "optin": "optin",
    "account_linking": "account_linking",
    "pass_thread_control": "pass_thread_control",
    "take_thread_control": "take_thread_control",
    "request_thread_control": "request_thread_control",
    "app_roles": "app_roles",
    "policy_enforcement": "policy_enforcement",
    "messaging_feedback": "messaging_feedback",
}
_CHANGE_KINDS = {
    "comment",
    "live_comment",
    "mention",
    "rating",
    "leadgen",
    "story_insights",
    "feed",
}


def bounded_id(value: str) -> str:
    """The id itself, or (beyond MAX_ID_CHARS) its head and a digest: still deterministic."""
    if len(value) <= MAX_ID_CHARS:
        return value
    digest = hashlib.blake2b(value.encode(errors="replace"), digest_size=12).hexdigest()
    return f"{value[:64]}~{digest}"


def epoch_ms(value: int) -> int | None:
    return value if 0 < value <= MAX_EPOCH_MS else None


def json_safe(value: Any, depth: int = 0) -> Any:
    """`value` with what cannot be stored dropped: nesting beyond MAX_DEPTH, integers beyond 64
    bits, non-finite floats (orjson cannot encode those, ClickHouse cannot hold them)."""
    if isinstance(value, str | bool) or value is None:
        return value
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth >= MAX_DEPTH:
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in value]
    return None


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _safe_obj(value: Any) -> dict[str, Any]:
    safe = json_safe(value, 1) if isinstance(value, dict) else {}
    return safe if isinstance(safe, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def attachment_of(item: Any) -> Attachment:
    item = _obj(item)
    payload = _obj(item.get("payload"))
    ids = {k: as_id(payload[k]) for k in _ID_KEYS if as_id(payload.get(k))}
    kind = _text(item.get("type")) or "unknown"
    if kind == "image" and "sticker_id" in ids:
        kind = "sticker"
    url = _text(payload.get("url")) or _text(item.get("URL")) or _text(item.get("url"))
    if kind == "location":
        coords = _obj(payload.get("coordinates"))
        ids = {k: _coordinate(coords[k]) for k in ("lat", "long") if k in coords}
    title = _text(item.get("title")) or _text(payload.get("title"))
    return Attachment(type=kind, url=url, ids=ids, title=title)


def unique_stickers(attachments: tuple[Attachment, ...]) -> tuple[Attachment, ...]:
    """Until 2026-08-30 Meta sent a sticker twice (an `image` with sticker_id and a `sticker`
    attachment; Messenger changelog 2026-06-01): one sticker is one attachment."""
    seen: set[str] = set()
    kept = []
    for attachment in attachments:
        sticker = attachment.ids.get("sticker_id") if attachment.type == "sticker" else None
        if sticker is not None and sticker in seen:
            continue
        if sticker is not None:
            seen.add(sticker)
        kept.append(attachment)
    return tuple(kept)


def _coordinate(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return str(value)
    return as_id(value) if not isinstance(value, str) else value[:32]


def _reply_to(message: dict[str, Any]) -> dict[str, str] | None:
    reply_to = _obj(message.get("reply_to"))
    if not reply_to:
        return None
    if "mid" in reply_to:
        return {"mid": as_id(reply_to["mid"])}
    story = _obj(reply_to.get("story"))
    return {"story_id": as_id(story.get("id")), "story_url": _text(story.get("url"))}


def _message_fields(event: dict[str, Any]) -> dict[str, Any]:
    message = _obj(event["message"])
    details = {"is_unsupported": True} if message.get("is_unsupported") else {}
    return {
        "mid": as_id(message.get("mid")),
        "text": _text(message.get("text")),
        "attachments": unique_stickers(
            tuple(
                attachment_of(a) for a in _list(message.get("attachments")) if isinstance(a, dict)
            )
        ),
        "quick_reply_payload": _text(_obj(message.get("quick_reply")).get("payload")) or None,
        "reply_to": _reply_to(message),
        "referral": _safe_obj(message.get("referral")) or _safe_obj(event.get("referral")) or None,
        "details": details,
    }


def _edit_fields(event: dict[str, Any]) -> dict[str, Any]:
    edit = _obj(event["message_edit"])
    return {
        "mid": as_id(edit.get("mid")),
        "text": _text(edit.get("text")),
        "details": {"num_edit": json_safe(edit.get("num_edit", 0))},
    }


def _postback_fields(event: dict[str, Any]) -> dict[str, Any]:
    postback = _obj(event["postback"])
    return {
        "mid": as_id(postback.get("mid")),
        "postback_payload": _text(postback.get("payload")) or None,
        "postback_title": _text(postback.get("title")),
        "referral": _safe_obj(postback.get("referral")) or None,
    }


def _reaction_fields(event: dict[str, Any]) -> dict[str, Any]:
    reaction = _obj(event["reaction"])
    mid = as_id(reaction.get("mid"))
    values = {k: _text(reaction.get(k)) for k in ("action", "reaction", "emoji")}
    return {"mid": mid, "reaction": {**values, "mid": mid}}


def _mark_fields(kind: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def fields(event: dict[str, Any]) -> dict[str, Any]:
        mark = _obj(event[kind])
        mids = tuple(bounded_id(as_id(m)) for m in _list(mark.get("mids")) if as_id(m))
        return {
            "mid": as_id(mark.get("mid")),
            "watermark_ms": to_millis(mark.get("watermark")),
            "delivered_mids": mids,
        }

    return fields


def _referral_fields(event: dict[str, Any]) -> dict[str, Any]:
    return {"referral": _safe_obj(event["referral"])}


def _details_of(key: str, drop: tuple[str, ...] = ()) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def fields(event: dict[str, Any]) -> dict[str, Any]:
        value = _obj(event[key])
        return {"details": {k: json_safe(v, 1) for k, v in value.items() if k not in drop}}

    return fields


_MESSAGING_FIELDS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "message": _message_fields,
    "message_echo": _message_fields,
    "message_deleted": lambda event: {"mid": as_id(_obj(event["message"]).get("mid"))},
    "message_edit": _edit_fields,
    "postback": _postback_fields,
    "reaction": _reaction_fields,
    "read": _mark_fields("read"),
    "delivery": _mark_fields("delivery"),
    "referral": _referral_fields,
    # Tokens (notification_messages_token, authorization_code) are not kept in the message.
    "optin": _details_of("optin", ("notification_messages_token", "user_ref")),
    "account_linking": _details_of("account_linking", ("authorization_code",)),
    "pass_thread_control": _details_of("pass_thread_control"),
    "take_thread_control": _details_of("take_thread_control"),
    "request_thread_control": _details_of("request_thread_control"),
    "app_roles": _details_of("app_roles"),
    "policy_enforcement": _details_of("policy_enforcement"),
    "messaging_feedback": _details_of("messaging_feedback"),
}


def _change_fields(envelope: InboundEnvelope) -> dict[str, Any]:
    value = _obj(envelope.raw.get("value"))
    if not isinstance(envelope.raw.get("value"), dict):
        raise UnknownShape(f"{envelope.kind} change has no value object")
    mid = next(
        (
            as_id(value.get(k))
            for k in ("comment_id", "id", "post_id", "media_id", "leadgen_id")
            if as_id(value.get(k))
        ),
        "",
    )
    text = (
        _text(value.get("message")) or _text(value.get("text")) or _text(value.get("review_text"))
    )
    details = {
        k: json_safe(value[k], 1)
        for k in (
            "item",
            "verb",
            "post_id",
            "parent_id",
            "reaction_type",
            "rating",
            "form_id",
            "media_id",
        )
        if k in value
    }
    media = _obj(value.get("media"))
    if media.get("id"):
        details["media_id"] = as_id(media["id"])
    direction = "out" if envelope.user_id == envelope.page_id else "in"
    return {"mid": mid, "text": text, "details": details, "direction": direction}


def _is_change(kind: str) -> bool:
    return kind in _CHANGE_KINDS or kind.startswith("feed_")


def _messaging_event(envelope: InboundEnvelope) -> dict[str, Any]:
    raw = envelope.raw
    if envelope.source == "changes" and raw.get("field") == "messages":
        return _obj(raw.get("value"))  # Instagram API with Instagram Login
    return raw


def kind_fields(envelope: InboundEnvelope) -> dict[str, Any]:
    kind = envelope.kind
    if _is_change(kind) and envelope.source == "changes":
        return _change_fields(envelope)
    extract = _MESSAGING_FIELDS.get(kind)
    if extract is None:
        raise UnknownShape(f"event of unknown kind {kind!r} (source {envelope.source})")
    event = _messaging_event(envelope)
    key = _MESSAGING_OBJECT[kind]
    if not isinstance(event.get(key), dict):
        raise UnknownShape(f"{kind} event needs a {key!r} object")
    return extract(event)


def direction_of(kind: str) -> str:
    if kind == "message_echo":
        return "out"
    return "none" if kind in _NO_DIRECTION else "in"


def _bounded_fields(fields: dict[str, Any]) -> dict[str, Any]:
    if len(fields.get("mid", "")) > MAX_ID_CHARS:
        fields["mid"] = bounded_id(fields["mid"])
    watermark = fields.get("watermark_ms")
    if watermark is not None and epoch_ms(watermark) is None:
        fields["watermark_ms"] = None
    return fields


def normalize(envelope: InboundEnvelope) -> NormalizedMessage:
    """One envelope → one normalized message, or UnknownShape (NoUser for a message or
    postback without a usable sender). Every number in the result is in range: an
    out-of-range time falls back to the receive time (or is dropped), so nothing downstream
    (state, facts, commands) can hold a value orjson or ClickHouse would refuse."""
    if not envelope.page_id or envelope.page_id == "_":
        raise UnknownShape("event has no page id")
    if envelope.kind in USER_REQUIRED_KINDS and not is_user_id(envelope.user_id, envelope.page_id):
        raise NoUser(f"{envelope.kind} event without a usable sender id")
    fields = _bounded_fields(kind_fields(envelope))
    fields.setdefault("direction", direction_of(envelope.kind))
    received = epoch_ms(envelope.received_at_ms) or 0
    return NormalizedMessage(
        event_id=bounded_id(envelope.event_id),
        platform=envelope.platform,
        page_id=envelope.page_id,
        user_id=envelope.user_id,
        conversation_id=envelope.conversation_id,
        kind=envelope.kind,
        event_time_ms=epoch_ms(envelope.event_time_ms) or received,
        received_at_ms=received,
        source=envelope.source,
        test=envelope.test,
        **fields,
    )
