"""`POST /api/messages`: proactive sends. Bearer key auth, the Send API's rules checked first
(ingress/api_validation.py), 202 with `{command_id}` once the OutboundCommand is acknowledged on
`outbound` (key: conversation). Every refusal is JSON `{"error": <code>, "message", "field"}`:
400 for a body that is not a JSON object, 422 for a field the Send API would refuse, 404 for a
page that is not configured, 413 for a body over 64 KiB; never 500 for anything a client sends.

An `Idempotency-Key` header makes the command id deterministic (page, recipient, key), so a client
retrying after a timeout never makes the sender deliver twice (its ledger skips known ids).

The pages come from HOOKSTREAM_PAGES_FILE, read at start (an invalid file fails the start) and
again when it changes (checked at most once a second; a broken edit keeps the previous pages).
"""

from __future__ import annotations

import hmac
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hookstream.runtime.errors import BrokerUnavailable, ConfigError, HookstreamError
from hookstream.runtime.logging import event, get_logger
from hookstream.runtime.pages import PagesConfig, load_pages
from hookstream.runtime.settings import Settings
from hookstream.runtime.tracing import TRACEPARENT, new_trace, parse_traceparent, record_headers
from ingress.api_validation import Invalid, validate
from schemas.commands import OutboundCommand, command_id_for

log = get_logger("ingress.api")

MAX_API_BODY = 64 * 1024
MAX_IDEMPOTENCY_KEY = 200


def command_from_request(
    data: Any, pages: PagesConfig, now_ms: int, idempotency_key: str = ""
) -> OutboundCommand:
    """Validate the request body; raise Invalid naming the field at fault."""
    checked = validate(data, pages)
    cause = f"api:{checked.page_id}:{checked.recipient_id}:{idempotency_key or uuid.uuid4().hex}"
    return OutboundCommand(
        command_id=command_id_for(cause, 0),
        page_id=checked.page_id,
        recipient_id=checked.recipient_id,
        conversation_id=f"{checked.page_id}:{checked.recipient_id}",
        created_at_ms=now_ms,
        messaging_type=checked.messaging_type,
        message=checked.message,
        sender_action=checked.sender_action,
        tag=checked.tag,
        platform=checked.platform,
        origin="api",
        cause_event_id=cause,
        event_received_at_ms=now_ms,
    )


def refusal(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"error": code, "message": message}
    if field:
        body["field"] = field
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


@dataclass
class PagesSource:
    """The pages file, reloaded when its modification time changes."""

    path: Path | None
    pages: PagesConfig = field(default_factory=PagesConfig)
    check_every_s: float = 1.0
    _mtime: float = -1.0
    _checked: float = 0.0

    def __post_init__(self) -> None:
        self.pages = load_pages(self.path, os.environ)  # fails the start when invalid
        self._mtime = self._stat()

    def _stat(self) -> float:
        try:
            return self.path.stat().st_mtime if self.path else -1.0
        except OSError:
            return -1.0

    def current(self) -> PagesConfig:
        now = time.monotonic()
        if self.path is None or now - self._checked < self.check_every_s:
            return self.pages
        self._checked = now
        mtime = self._stat()
        if mtime != self._mtime:
            self._mtime = mtime
            try:
                self.pages = load_pages(self.path, os.environ)
            except ConfigError as exc:
                event(log, "pages_reload_failed", error=str(exc)[:300])
        return self.pages


@dataclass
class MessagesApi:
    settings: Settings
    pages: PagesSource

    def authorize(self, request: Request) -> Response | None:
        expected = self.settings.ingress.api_key.reveal()
        if not expected:
            return refusal(
                503, "api_disabled", "the proactive send API is disabled: set HOOKSTREAM_API_KEY"
            )
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer ") or not auth[7:].strip():
            return refusal(
                401, "unauthorized", "missing bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
        if not hmac.compare_digest(auth[7:].strip().encode(), expected.encode()):
            return refusal(403, "forbidden", "wrong API key")
        return None

    async def post(self, request: Request) -> Response:
        refused = self.authorize(request)
        if refused is not None:
            return refused
        key = request.headers.get("idempotency-key", "").strip()
        if len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
            return refusal(
                400,
                "invalid_idempotency_key",
                f"Idempotency-Key has at most {MAX_IDEMPOTENCY_KEY} printable characters",
                "Idempotency-Key",
            )
        body = await _bounded_body(request)
        if body is None:
            return refusal(
                413, "body_too_large", f"the body is larger than {MAX_API_BODY} bytes", "body"
            )
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            if "depth" in str(exc):
                return refusal(422, "too_deeply_nested", "the body is nested too deeply", "body")
            return refusal(400, "invalid_json", "the body is not JSON", "body")
        try:
            command = command_from_request(data, self.pages.current(), int(time.time() * 1000), key)
            record = (command.conversation_id.encode(), command.encode())
        except Invalid as exc:
            return refusal(exc.status, exc.code, str(exc), exc.field)
        except (HookstreamError, TypeError, ValueError) as exc:  # a check the validation missed
            event(log, "api_message_unencodable", error_type=type(exc).__name__)
            return refusal(422, "invalid_body", "the message cannot be encoded", "body")
        return await self._publish(request, command, record)

    async def _publish(
        self, request: Request, command: OutboundCommand, record: tuple[bytes, bytes]
    ) -> Response:
        topic = self.settings.kafka.topic("outbound")
        try:
            incoming = parse_traceparent(request.headers.get(TRACEPARENT))
            trace = incoming.child() if incoming else new_trace()
            await request.app.state.publisher.publish(
                topic, [record], self.settings.ingress.ack_deadline_s, [record_headers(trace)]
            )
        except BrokerUnavailable as exc:
            event(log, "api_message_not_queued", error=str(exc)[:200])
            retry = str(self.settings.ingress.retry_after_s)
            return refusal(
                503,
                "broker_unavailable",
                "Kafka did not acknowledge; try again",
                headers={"Retry-After": retry},
            )
        except HookstreamError as exc:  # permanent refusals of the publisher (record too large)
            status = getattr(exc, "status_code", 422)
            code = getattr(exc, "reason", "rejected")
            return refusal(status if 400 <= status < 500 else 422, code, str(exc)[:300], "body")
        event(log, "api_message_queued", command_id=command.command_id, page_id=command.page_id)
        return JSONResponse({"command_id": command.command_id}, 202)


async def _bounded_body(request: Request) -> bytes | None:
    """The body, or None once it exceeds MAX_API_BODY (read no further)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_API_BODY:
        return None
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_API_BODY:
                return None
            chunks.append(chunk)
    except ClientDisconnect:
        return b""
    return b"".join(chunks)


def api_routes(settings: Settings) -> list[BaseRoute]:
    api = MessagesApi(settings, PagesSource(settings.pages_file))
    return [Route("/api/messages", api.post, methods=["POST"])]
