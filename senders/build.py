"""Build Send API request bodies from an OutboundCommand. Pure.

One command may become several calls, sent in order: an optional `typing_on` first (per-page
option, before replies only), then the message, its text split at 2,000 characters on word
boundaries when longer; quick replies ride on the last part only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from schemas.commands import OutboundCommand

MAX_TEXT = 2000
MAX_QUICK_REPLIES = 13


@dataclass(frozen=True, slots=True)
class SendCall:
    """One POST to the Send API: its JSON body, and whether it is a message (ledgered)."""

    body: dict[str, Any]
    part: int  # index among the message parts; -1 for a sender action before the message
    is_message: bool = True


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split on whitespace so that every part is at most `limit` characters, none empty."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = rest.rfind(" ", 0, limit + 1)
        cut = max(cut, rest.rfind("\n", 0, limit + 1))
        if cut <= 0:
            cut = limit  # one word longer than the limit: cut inside it
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not parts:
        parts.append(rest)
    return parts


def _envelope(command: OutboundCommand) -> dict[str, Any]:
    body: dict[str, Any] = {
        "recipient": {"id": command.recipient_id},
        "messaging_type": command.messaging_type,
    }
    if command.messaging_type == "MESSAGE_TAG" and command.tag:
        body["tag"] = command.tag
    return body


def _messages(command: OutboundCommand) -> list[dict[str, Any]]:
    message = dict(command.message or {})
    text = message.get("text")
    if not isinstance(text, str) or len(text) <= MAX_TEXT:
        return [message]
    quick = message.pop("quick_replies", None)
    parts = [{**message, "text": chunk} for chunk in split_text(text)]
    if quick is not None:
        parts[-1]["quick_replies"] = quick
    return parts


def build_calls(
    command: OutboundCommand, typing_on: bool = False, tag_metadata: bool = True
) -> list[SendCall]:
    """The calls for one command, in the order they must reach the user."""
    if command.sender_action is not None:
        return [SendCall({**_envelope(command), "sender_action": command.sender_action}, 0)]
    calls: list[SendCall] = []
    if typing_on:
        action = {"recipient": {"id": command.recipient_id}, "sender_action": "typing_on"}
        calls.append(SendCall(action, -1, is_message=False))
    for index, message in enumerate(_messages(command)):
        if tag_metadata and "metadata" not in message:
            message["metadata"] = f"hookstream:{command.command_id}:{index}"
        calls.append(SendCall({**_envelope(command), "message": message}, index))
    return calls


def check_command(command: OutboundCommand) -> str | None:
    """Why this command can never be sent (None when it can): no retry can fix these."""
    message = command.message
    if message is None:
        return None
    text = message.get("text")
    if text is not None and not isinstance(text, str):
        return "message.text must be a string"
    has_text = isinstance(text, str) and bool(text.strip())
    sticker = message.get("sticker_id")  # Meta's Sticker API (2026-06-01): {"sticker_id": N}
    if not has_text and not isinstance(message.get("attachment"), dict) and not sticker:
        return "message needs a non-empty text or an attachment"
    quick = message.get("quick_replies")
    if quick is not None and (
        not isinstance(quick, list)
        or len(quick) > MAX_QUICK_REPLIES
        or not all(isinstance(item, dict) for item in quick)
    ):
        return f"quick_replies must be a list of at most {MAX_QUICK_REPLIES} objects"
    attachment = message.get("attachment")
    if isinstance(attachment, dict):
        payload = attachment.get("payload")
        template = attachment.get("type") == "template"
        if not isinstance(payload, dict) or not (
            payload.get("url") or payload.get("attachment_id") or template
        ):
            return "attachment needs payload.url or payload.attachment_id"
    try:
        orjson.dumps(message)
    except TypeError as exc:  # nested too deep, an integer beyond 64 bits, ...
        return f"message cannot be encoded as JSON: {exc}"
    return None
