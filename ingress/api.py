"""`POST /api/messages`: proactive sends. Bearer key auth, validation naming the field at fault,
202 with `{command_id}` once the OutboundCommand is acknowledged on `outbound` (key: conversation).

An `Idempotency-Key` header makes the command id deterministic (page, recipient, key), so a client
retrying after a timeout never makes the sender deliver twice (its ledger skips known ids).
"""

from __future__ import annotations

import hmac
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hookstream.runtime.errors import BrokerUnavailable
from hookstream.runtime.logging import event, get_logger
from hookstream.runtime.settings import Settings
from schemas.commands import MESSAGING_TYPES, SENDER_ACTIONS, OutboundCommand, command_id_for
from schemas.errors import SchemaError

log = get_logger("ingress.api")

MAX_API_BODY = 64 * 1024
MAX_TEXT = 20_000  # longer than Meta's 2,000: the sender splits on word boundaries
MAX_QUICK_REPLIES = 13
ATTACHMENT_TYPES = ("image", "audio", "video", "file", "template")


class FieldError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _string_id(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise FieldError(name, f"{name} is required (a string id)")
    return value.strip()


def _quick_replies(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value or len(value) > MAX_QUICK_REPLIES:
        raise FieldError("quick_replies", "quick_replies must be a list of 1 to 13 items")
    replies = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("title"), str):
            raise FieldError("quick_replies", "each quick reply needs a title")
        if len(item["title"]) > 20:
            raise FieldError("quick_replies", "a quick reply title has at most 20 characters")
        replies.append(
            {
                "content_type": item.get("content_type", "text"),
                "title": item["title"],
                "payload": str(item.get("payload", item["title"])),
            }
        )
    return replies


def _attachment(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("type") not in ATTACHMENT_TYPES:
        raise FieldError("attachment", f"attachment.type must be one of {ATTACHMENT_TYPES}")
    payload = value.get("payload")
    if not isinstance(payload, dict) or not (
        payload.get("url") or payload.get("attachment_id") or value["type"] == "template"
    ):
        raise FieldError("attachment", "attachment.payload needs url or attachment_id")
    return {"type": value["type"], "payload": payload}


def _message(data: dict[str, Any]) -> dict[str, Any] | None:
    text, attachment = data.get("text"), data.get("attachment")
    if text is not None and attachment is not None:
        raise FieldError("text", "give text or attachment, not both")
    message: dict[str, Any] = {}
    if text is not None:
        if not isinstance(text, str) or not text.strip():
            raise FieldError("text", "text must be a non-empty string")
        if len(text) > MAX_TEXT:
            raise FieldError("text", f"text has at most {MAX_TEXT} characters")
        message["text"] = text
    elif attachment is not None:
        message["attachment"] = _attachment(attachment)
    if "quick_replies" in data:
        if not message:
            raise FieldError("quick_replies", "quick_replies need a text or an attachment")
        message["quick_replies"] = _quick_replies(data["quick_replies"])
    return message or None


def command_from_request(data: Any, now_ms: int, idempotency_key: str = "") -> OutboundCommand:
    """Validate the request body; raise FieldError naming the field at fault."""
    if not isinstance(data, dict):
        raise FieldError("body", "the body must be a JSON object")
    page_id, recipient_id = _string_id(data, "page_id"), _string_id(data, "recipient_id")
    messaging_type = data.get("messaging_type", "RESPONSE")
    if messaging_type not in MESSAGING_TYPES:
        raise FieldError("messaging_type", f"messaging_type must be one of {MESSAGING_TYPES}")
    tag = data.get("tag")
    if messaging_type == "MESSAGE_TAG" and (not isinstance(tag, str) or not tag):
        raise FieldError("tag", "messaging_type MESSAGE_TAG needs a tag")
    action = data.get("sender_action")
    if action is not None and action not in SENDER_ACTIONS:
        raise FieldError("sender_action", f"sender_action must be one of {SENDER_ACTIONS}")
    message = _message(data)
    if (message is None) == (action is None):
        raise FieldError("text", "give one of text, attachment or sender_action")
    cause = f"api:{page_id}:{recipient_id}:{idempotency_key or uuid.uuid4().hex}"
    try:
        return OutboundCommand(
            command_id=command_id_for(cause, 0),
            page_id=page_id,
            recipient_id=recipient_id,
            conversation_id=f"{page_id}:{recipient_id}",
            created_at_ms=now_ms,
            messaging_type=messaging_type,
            message=message,
            sender_action=action,
            tag=tag if messaging_type == "MESSAGE_TAG" else None,
            origin="api",
            cause_event_id=cause,
            event_received_at_ms=now_ms,
        )
    except SchemaError as exc:
        raise FieldError("body", str(exc)) from None


def _error(
    status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    body: dict[str, Any] = {"error": message}
    if field:
        body["field"] = field
    return JSONResponse(body, status, headers=headers)


@dataclass
class MessagesApi:
    settings: Settings

    def authorize(self, request: Request) -> Response | None:
        expected = self.settings.ingress.api_key.reveal()
        if not expected:
            return _error(503, "the proactive send API is disabled: set HOOKSTREAM_API_KEY")
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer ") or not auth[7:].strip():
            return _error(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(auth[7:].strip().encode(), expected.encode()):
            return _error(403, "wrong API key")
        return None

    async def post(self, request: Request) -> Response:
        refused = self.authorize(request)
        if refused is not None:
            return refused
        body = await request.body()
        if len(body) > MAX_API_BODY:
            return _error(413, f"the body is larger than {MAX_API_BODY} bytes")
        try:
            data = orjson.loads(body)
            command = command_from_request(
                data, int(time.time() * 1000), request.headers.get("idempotency-key", "").strip()
            )
        except orjson.JSONDecodeError:
            return _error(400, "the body is not JSON", "body")
        except FieldError as exc:
            return _error(400, str(exc), exc.field)
        return await self._publish(request, command)

    async def _publish(self, request: Request, command: OutboundCommand) -> Response:
        topic = self.settings.kafka.topic("outbound")
        record = (command.conversation_id.encode(), command.encode())
        try:
            await request.app.state.publisher.publish(
                topic, [record], self.settings.ingress.ack_deadline_s
            )
        except BrokerUnavailable as exc:
            event(log, "api_message_not_queued", error=str(exc))
            retry = str(self.settings.ingress.retry_after_s)
            return _error(
                503, "Kafka did not acknowledge; try again", headers={"Retry-After": retry}
            )
        event(log, "api_message_queued", command_id=command.command_id, page_id=command.page_id)
        return JSONResponse({"command_id": command.command_id}, 202)


def api_routes(settings: Settings) -> list[BaseRoute]:
    return [Route("/api/messages", MessagesApi(settings).post, methods=["POST"])]
