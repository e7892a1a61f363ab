"""What the Send API would answer: request validation and Meta-shaped errors. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_TEXT = 2000
MAX_QUICK_REPLIES = 13
MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")
ACCEPTED_TAGS = ("HUMAN_AGENT",)  # the only tag Meta still accepts (Messenger and Instagram)
SENDER_ACTIONS = ("typing_on", "typing_off", "mark_seen")

ERROR_TEXT = {
    1: ("An unknown error occurred", "OAuthException"),
    2: ("Service temporarily unavailable", "OAuthException"),
    4: ("(#4) Application request limit reached", "OAuthException"),
    10: ("(#10) This message is sent outside of allowed window.", "OAuthException"),
    17: ("(#17) User request limit reached", "OAuthException"),
    32: ("(#32) Page request limit reached", "OAuthException"),
    100: ("(#100) Invalid parameter", "OAuthException"),
    190: ("Invalid OAuth access token - Cannot parse access token", "OAuthException"),
    200: ("(#200) Permissions error", "OAuthException"),
    368: ("(#368) Temporarily blocked for policies violations", "OAuthException"),
    551: ("(#551) This person isn't available right now.", "OAuthException"),
    613: ("(#613) Calls to this api have exceeded the rate limit.", "OAuthException"),
}
TEMPORARY = (1, 2, 1200)


@dataclass(frozen=True, slots=True)
class MetaError:
    code: int
    message: str
    subcode: int = 0
    status: int = 400

    def body(self, trace_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": ERROR_TEXT.get(self.code, ("", "OAuthException"))[1],
            "code": self.code,
            "fbtrace_id": trace_id,
        }
        if self.subcode:
            error["error_subcode"] = self.subcode
        if self.code in TEMPORARY:
            error["is_transient"] = True
        return {"error": error}


def meta_error(code: int, subcode: int = 0, message: str = "", status: int = 0) -> MetaError:
    text = message or ERROR_TEXT.get(code, (f"(#{code}) Error", ""))[0]
    return MetaError(code, text, subcode, status or (500 if code in TEMPORARY else 400))


def _bad(message: str, subcode: int = 0) -> MetaError:
    return meta_error(100, subcode, f"(#100) {message}")


def validate_send(body: Any) -> MetaError | None:
    """None when Meta would accept this body (the token is checked before)."""
    if not isinstance(body, Mapping):
        return _bad("The request body must be a JSON object")
    recipient = body.get("recipient")
    if not isinstance(recipient, Mapping) or not str(recipient.get("id", "")).strip():
        return _bad("The parameter recipient is required")
    message, action = body.get("message"), body.get("sender_action")
    if (message is None) == (action is None):
        return _bad("Exactly one of message or sender_action must be set")
    if action is not None:
        if action not in SENDER_ACTIONS:
            return _bad("Param sender_action must be one of {TYPING_ON, TYPING_OFF, MARK_SEEN}")
        return None
    return _validate_type(body) or _validate_message(message)


def _validate_type(body: Mapping[str, Any]) -> MetaError | None:
    kind = body.get("messaging_type", "RESPONSE")
    if kind not in MESSAGING_TYPES:
        return _bad("Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}")
    if kind == "MESSAGE_TAG" and not body.get("tag"):
        return _bad("Param tag is required when messaging_type is MESSAGE_TAG")
    if kind == "MESSAGE_TAG" and body.get("tag") not in ACCEPTED_TAGS:
        return _bad(f"Invalid parameter: tag {str(body.get('tag'))[:40]} is not supported")
    return None


def _validate_message(message: Any) -> MetaError | None:
    if not isinstance(message, Mapping):
        return _bad("Param message must be an object")
    text, attachment = message.get("text"), message.get("attachment")
    sticker = message.get("sticker_id")
    if sticker is not None and text is None and attachment is None:
        if isinstance(sticker, bool) or not str(sticker).isdigit():
            return _bad("Param message[sticker_id] must be a sticker id")
        return None
    if (text is None) == (attachment is None):
        return _bad("Exactly one of message[text] or message[attachment] must be set")
    if text is not None and (not isinstance(text, str) or not text.strip()):
        return _bad("Param message[text] must be a non-empty UTF-8 encoded string")
    if isinstance(text, str) and len(text) > MAX_TEXT:
        return _bad("Length of param message[text] must be less than or equal to 2000")
    if attachment is not None and not _attachment_ok(attachment):
        return _bad("Param message[attachment] needs a type and payload.url or attachment_id")
    quick = message.get("quick_replies")
    if quick is not None and (not isinstance(quick, list) or len(quick) > MAX_QUICK_REPLIES):
        return _bad("param message[quick_replies] must have at most 13 elements")
    return None


def _attachment_ok(attachment: Any) -> bool:
    if not isinstance(attachment, Mapping) or not attachment.get("type"):
        return False
    payload = attachment.get("payload")
    if not isinstance(payload, Mapping):
        return False
    return bool(
        payload.get("url") or payload.get("attachment_id") or attachment.get("type") == "template"
    )
