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


class UnsupportedMediaType(IngressError):
    status_code = 415
    reason = "unsupported_media_type"


class Unauthorized(IngressError):
    status_code = 401
    reason = "unauthorized"


class Forbidden(IngressError):
    status_code = 403
    reason = "forbidden"
