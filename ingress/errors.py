"""Rejections of the ingress; each carries the HTTP status it answers with."""

from __future__ import annotations

from hookstream.runtime.errors import HookstreamError


class IngressError(HookstreamError):
    status_code = 400
    reason = "bad_request"


class BadSignature(IngressError):
    status_code = 401
    reason = "bad_signature"


class MalformedBody(IngressError):
    status_code = 400
    reason = "malformed_body"


class BodyTooLarge(IngressError):
    status_code = 413
    reason = "body_too_large"


class EventRejected(IngressError):
    """A signed body that can never be taken as it is (the same answer on every retry): an
    event nested too deeply, a number no JSON parser here can hold, ... `reason` names it."""

    status_code = 400
    reason = "unencodable_event"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class EventTooLarge(IngressError):
    """An event whose record exceeds what the broker takes: permanent, never 503."""

    status_code = 413
    reason = "event_too_large"


class TooManyEvents(IngressError):
    status_code = 413
    reason = "too_many_events"


class BodyTimeout(IngressError):
    """The body did not arrive within the body-read timeout (the connection is closed)."""

    status_code = 408
    reason = "body_timeout"


class ServerBusy(IngressError):
    """Too many body bytes in flight across connections: try again shortly."""

    status_code = 503
    reason = "server_busy"


class UnsupportedMediaType(IngressError):
    status_code = 415
    reason = "unsupported_media_type"


class Unauthorized(IngressError):
    status_code = 401
    reason = "unauthorized"


class Forbidden(IngressError):
    status_code = 403
    reason = "forbidden"
