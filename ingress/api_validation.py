"""What `POST /api/messages` accepts: the Send API's rules, checked before anything reaches
Kafka, so that a request that can never be delivered gets its answer now (422 naming the field,
404 for a page that is not configured) instead of a 202 and a dead letter later. Pure.

Accepted body (JSON object, nothing else in it):

    page_id, recipient_id      string (or non-negative integer) ids
    text                       1 to 2,000 characters               } exactly one of text,
    attachment                 {type, payload}                      } attachment and
    sender_action              typing_on | typing_off | mark_seen   } sender_action
    quick_replies              1 to 13 {content_type?, title, payload?, image_url?}, with text or
                               attachment; content_type text (title <= 20, payload string
                               <= 1,000, the title by default), user_phone_number, user_email
    messaging_type             RESPONSE (default) | UPDATE | MESSAGE_TAG (then `tag`, one Meta
                               still accepts for the page's platform)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hookstream.runtime.pages import ACCEPTED_TAGS, RETIRED_TAGS, PagesConfig
from schemas.commands import MESSAGING_TYPES, SENDER_ACTIONS

MAX_TEXT = 2000
MAX_QUICK_REPLIES = 13
MAX_TITLE = 20
MAX_PAYLOAD = 1000
MAX_URL = 2000
MAX_ID = 64
MAX_DEPTH = 16  # of an attachment payload (Meta's templates are a few levels deep)
QUICK_REPLY_TYPES = ("text", "user_phone_number", "user_email")
MEDIA_TYPES = ("image", "audio", "video", "file")
TEMPLATE_TYPES = (
    "generic",
    "button",
    "media",
    "receipt",
    "product",
    "customer_feedback",
    "coupon",
)
BODY_FIELDS = frozenset(
    {
        "page_id",
        "recipient_id",
        "text",
        "attachment",
        "quick_replies",
        "messaging_type",
        "tag",
        "sender_action",
    }
)
QUICK_REPLY_FIELDS = frozenset({"content_type", "title", "payload", "image_url"})
MEDIA_PAYLOAD_FIELDS = frozenset({"url", "attachment_id", "is_reusable"})
ATTACHMENT_FIELDS = frozenset({"type", "payload"})
_ID = re.compile(r"[A-Za-z0-9_.\-]+")


class Invalid(ValueError):
    """A request the Send API would refuse: `code` (machine-readable), `field`, HTTP status."""

    def __init__(self, code: str, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.code, self.field, self.status = code, field, status


@dataclass(frozen=True, slots=True)
class Request:
    page_id: str
    recipient_id: str
    platform: str
    messaging_type: str
    tag: str | None
    message: dict[str, Any] | None
    sender_action: str | None


def validate(data: Any, pages: PagesConfig) -> Request:
    """The checked request, or Invalid naming the first field at fault."""
    if not isinstance(data, dict):
        raise Invalid("invalid_body", "body", "the body must be a JSON object", 400)
    _no_unknown(data, BODY_FIELDS, "")
    page_id, recipient_id = _id(data, "page_id"), _id(data, "recipient_id")
    page = pages.page(page_id)
    if page is None:
        why = "is not in the pages file" if pages.pages else "cannot be checked: no pages file"
        raise Invalid("unknown_page", "page_id", f"page {page_id} {why}", 404)
    messaging_type, tag = _messaging_type(data, page.platform)
    action = data.get("sender_action")
    if action is not None:
        if action not in SENDER_ACTIONS:
            raise Invalid(
                "invalid_value", "sender_action", f"sender_action must be one of {SENDER_ACTIONS}"
            )
        for other in ("text", "attachment", "quick_replies", "tag"):
            if other in data:
                raise Invalid(
                    "conflicting_fields", other, f"sender_action is sent alone, without {other}"
                )
        return Request(page.page_id, recipient_id, page.platform, "RESPONSE", None, None, action)
    message = _message(data, page.platform)
    return Request(page.page_id, recipient_id, page.platform, messaging_type, tag, message, None)


def _no_unknown(data: Mapping[str, Any], known: frozenset[str], prefix: str) -> None:
    unknown = sorted(str(k) for k in data if k not in known)
    if unknown:
        field = prefix + (unknown[0][:40] or "(an empty name)")
        raise Invalid("unknown_field", field, f"unknown field {field!r}")


def _id(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        raise Invalid("missing_field", name, f"{name} is required")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str):
        raise Invalid("invalid_type", name, f"{name} must be a string id")
    value = value.strip()
    if not value:
        raise Invalid("missing_field", name, f"{name} is required")
    if len(value) > MAX_ID or not _ID.fullmatch(value):
        raise Invalid(
            "invalid_value", name, f"{name} must be up to {MAX_ID} letters, digits, '_', '.', '-'"
        )
    return value


def _messaging_type(data: Mapping[str, Any], platform: str) -> tuple[str, str | None]:
    kind = data.get("messaging_type", "RESPONSE")
    if kind not in MESSAGING_TYPES:
        raise Invalid(
            "invalid_value", "messaging_type", f"messaging_type must be one of {MESSAGING_TYPES}"
        )
    tag = data.get("tag")
    if kind != "MESSAGE_TAG":
        if tag is not None:
            raise Invalid("conflicting_fields", "tag", "a tag needs messaging_type MESSAGE_TAG")
        return kind, None
    if tag is None:
        raise Invalid("missing_field", "tag", "messaging_type MESSAGE_TAG needs a tag")
    if not isinstance(tag, str):
        raise Invalid("invalid_type", "tag", "tag must be a string")
    accepted = ACCEPTED_TAGS.get(platform, frozenset())
    if tag not in accepted:
        retired = RETIRED_TAGS.get(tag)
        why = f"retired by Meta on {retired}" if retired else "not a message tag Meta accepts"
        raise Invalid(
            "invalid_value",
            "tag",
            f"tag {tag[:40]!r} is {why}; accepted on {platform}: {', '.join(sorted(accepted))}",
        )
    return kind, tag


def _message(data: Mapping[str, Any], platform: str) -> dict[str, Any]:
    text, attachment = data.get("text"), data.get("attachment")
    if text is not None and attachment is not None:
        raise Invalid("conflicting_fields", "attachment", "give text or attachment, not both")
    message: dict[str, Any]
    if text is not None:
        message = {"text": _text(text)}
    elif attachment is not None:
        message = {"attachment": _attachment(attachment)}
    else:
        field = "quick_replies" if "quick_replies" in data else "text"
        raise Invalid("missing_field", field, "give one of text, attachment or sender_action")
    if "quick_replies" in data:
        message["quick_replies"] = _quick_replies(data["quick_replies"], platform)
    return message


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("invalid_type", "text", "text must be a string")
    if not value.strip():
        raise Invalid("invalid_value", "text", "text must not be empty")
    if len(value) > MAX_TEXT:
        raise Invalid("too_long", "text", f"text has at most {MAX_TEXT} characters")
    return value


def _quick_replies(value: Any, platform: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise Invalid("invalid_type", "quick_replies", "quick_replies must be a list")
    if not value:
        raise Invalid("invalid_value", "quick_replies", "quick_replies must not be empty")
    if len(value) > MAX_QUICK_REPLIES:
        raise Invalid(
            "too_many", "quick_replies", f"quick_replies has at most {MAX_QUICK_REPLIES} items"
        )
    return [_quick_reply(item, f"quick_replies[{i}]", platform) for i, item in enumerate(value)]


def _quick_reply(item: Any, where: str, platform: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise Invalid("invalid_type", where, f"{where} must be an object")
    _no_unknown(item, QUICK_REPLY_FIELDS, f"{where}.")
    kind = item.get("content_type", "text")
    allowed = QUICK_REPLY_TYPES if platform == "messenger" else ("text",)
    if kind not in allowed:
        raise Invalid(
            "invalid_value",
            f"{where}.content_type",
            f"{where}.content_type must be one of {allowed} on {platform}",
        )
    if kind != "text":  # Meta fills in the person's phone number or email
        for name in ("title", "payload", "image_url"):
            if name in item:
                raise Invalid(
                    "conflicting_fields", f"{where}.{name}", f"a {kind} quick reply has no {name}"
                )
        return {"content_type": kind}
    title = item.get("title")
    if title is None:
        raise Invalid("missing_field", f"{where}.title", f"{where}.title is required")
    if not isinstance(title, str):
        raise Invalid("invalid_type", f"{where}.title", f"{where}.title must be a string")
    if not title.strip():
        raise Invalid("invalid_value", f"{where}.title", f"{where}.title must not be empty")
    if len(title) > MAX_TITLE:
        raise Invalid(
            "too_long", f"{where}.title", f"{where}.title has at most {MAX_TITLE} characters"
        )
    payload = item.get("payload", title)
    if not isinstance(payload, str):
        raise Invalid(
            "invalid_type", f"{where}.payload", f"{where}.payload must be a string (not an object)"
        )
    if not payload or len(payload) > MAX_PAYLOAD:
        raise Invalid(
            "too_long" if payload else "invalid_value",
            f"{where}.payload",
            f"{where}.payload has 1 to {MAX_PAYLOAD} characters",
        )
    reply = {"content_type": "text", "title": title, "payload": payload}
    if "image_url" in item:
        reply["image_url"] = _url(item["image_url"], f"{where}.image_url")
    return reply


def _url(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise Invalid("invalid_type", field, f"{field} must be a string")
    if len(value) > MAX_URL:
        raise Invalid("too_long", field, f"{field} has at most {MAX_URL} characters")
    if not value.startswith(("https://", "http://")) or len(value) < 10 or " " in value:
        raise Invalid("invalid_value", field, f"{field} must be an http(s) URL")
    return value


def _attachment(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid("invalid_type", "attachment", "attachment must be an object")
    _no_unknown(value, ATTACHMENT_FIELDS, "attachment.")
    kind, payload = value.get("type"), value.get("payload")
    if kind not in (*MEDIA_TYPES, "template"):
        raise Invalid(
            "invalid_value",
            "attachment.type",
            f"attachment.type must be one of {(*MEDIA_TYPES, 'template')}",
        )
    if payload is None:
        raise Invalid("missing_field", "attachment.payload", "attachment.payload is required")
    if not isinstance(payload, dict):
        raise Invalid("invalid_type", "attachment.payload", "attachment.payload must be an object")
    if depth(payload) > MAX_DEPTH:
        raise Invalid(
            "too_deeply_nested",
            "attachment.payload",
            f"attachment.payload is nested deeper than {MAX_DEPTH} levels",
        )
    if kind == "template":
        return {"type": kind, "payload": _template(payload)}
    return {"type": kind, "payload": _media(payload)}


def _media(payload: dict[str, Any]) -> dict[str, Any]:
    _no_unknown(payload, MEDIA_PAYLOAD_FIELDS, "attachment.payload.")
    if ("url" in payload) == ("attachment_id" in payload):
        raise Invalid(
            "missing_field" if "url" not in payload else "conflicting_fields",
            "attachment.payload",
            "attachment.payload needs exactly one of url or attachment_id",
        )
    checked: dict[str, Any] = {}
    if "url" in payload:
        checked["url"] = _url(payload["url"], "attachment.payload.url")
    else:
        attachment_id = payload["attachment_id"]
        if isinstance(attachment_id, int) and not isinstance(attachment_id, bool):
            attachment_id = str(attachment_id)
        if not isinstance(attachment_id, str) or not attachment_id.isdigit():
            raise Invalid(
                "invalid_value",
                "attachment.payload.attachment_id",
                "attachment.payload.attachment_id must be a numeric id (from the upload API)",
            )
        if len(attachment_id) > MAX_ID:
            raise Invalid(
                "too_long", "attachment.payload.attachment_id", "attachment_id is too long"
            )
        checked["attachment_id"] = attachment_id
    if "is_reusable" in payload:
        if not isinstance(payload["is_reusable"], bool):
            raise Invalid(
                "invalid_type",
                "attachment.payload.is_reusable",
                "attachment.payload.is_reusable must be true or false",
            )
        checked["is_reusable"] = payload["is_reusable"]
    return checked


def _template(payload: dict[str, Any]) -> dict[str, Any]:
    kind = payload.get("template_type")
    if kind is None:
        raise Invalid(
            "missing_field",
            "attachment.payload.template_type",
            "attachment.payload.template_type is required",
        )
    if kind not in TEMPLATE_TYPES:
        raise Invalid(
            "invalid_value",
            "attachment.payload.template_type",
            f"attachment.payload.template_type must be one of {TEMPLATE_TYPES}",
        )
    if kind == "button":
        text = payload.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > 640:
            raise Invalid(
                "invalid_value",
                "attachment.payload.text",
                "a button template needs a text of 1 to 640 characters",
            )
        _items(payload, "buttons", 3)
    elif kind in ("generic", "media"):
        _items(payload, "elements", 10 if kind == "generic" else 1)
    return payload


def _items(payload: dict[str, Any], name: str, most: int) -> None:
    field = f"attachment.payload.{name}"
    items = payload.get(name)
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise Invalid("invalid_value", field, f"{field} must be a list of 1 to {most} objects")
    if len(items) > most:
        raise Invalid("too_many", field, f"{field} has at most {most} items")


def depth(value: Any, limit: int = MAX_DEPTH + 1) -> int:
    """How deeply lists and objects nest in `value` (a scalar is 0), counted up to `limit`:
    iterative, so that no nesting can exhaust the stack."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list) and level < limit:
            deepest = max(deepest, level + 1)
            stack.extend(
                (child, level + 1) for child in (item.values() if isinstance(item, dict) else item)
            )
    return deepest
