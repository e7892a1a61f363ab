"""`GET /webhook` (Meta's verification) and `POST /webhook` (signed deliveries)."""

from __future__ import annotations

import hmac
import logging
import os
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from hookstream.errors import BrokerUnavailable
from hookstream.logging import event, get_logger, request_id_var
from hookstream.settings import IngressSettings
from ingress.errors import BodyTooLarge, IngressError, UnsupportedMediaType
from ingress.metrics import IngressMetrics
from ingress.publisher import KafkaPublisher
from ingress.signature import SHA1_HEADER, SHA256_HEADER, verify_signature
from ingress.splitter import parse_body, split

log = get_logger("ingress")


@dataclass
class WebhookHandler:
    settings: IngressSettings
    publisher: KafkaPublisher
    topic: str
    metrics: IngressMetrics

    async def verify(self, request: Request) -> Response:
        params = request.query_params
        token = params.get("hub.verify_token", "").encode()
        expected = self.settings.verify_token.reveal().encode()
        mode_ok = params.get("hub.mode") == "subscribe"
        if mode_ok and expected and hmac.compare_digest(token, expected):
            event(log, "webhook_verified")
            return PlainTextResponse(params.get("hub.challenge", ""))
        event(log, "webhook_verification_refused", logging.WARNING,
              mode=params.get("hub.mode", ""))
        return PlainTextResponse("verification refused: wrong hub.mode or hub.verify_token", 403)

    async def receive(self, request: Request) -> Response:
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or os.urandom(8).hex()
        request_id_var.set(request_id)
        try:
            count = await self._accept(request, request_id)
        except IngressError as exc:
            return self._reject(exc, exc.status_code, exc.reason)
        except BrokerUnavailable as exc:
            retry = str(self.settings.retry_after_s)
            return self._reject(exc, 503, "broker_unavailable", {"Retry-After": retry})
        self.metrics.ack_latency.observe(time.perf_counter() - started)
        self.metrics.requests.labels("webhook", "200").inc()
        return JSONResponse({"accepted": count, "request_id": request_id})

    async def _accept(self, request: Request, request_id: str) -> int:
        content_type = request.headers.get("content-type", "")
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            raise UnsupportedMediaType(
                f"content type must be application/json, got {content_type!r}"
            )
        body = await read_limited(request, self.settings.max_body_bytes)
        verify_signature(body, request.headers.get(SHA256_HEADER), request.headers.get(SHA1_HEADER),
                         self.settings.app_secrets, self.settings.allow_sha1_signature)
        records = split(parse_body(body), int(time.time() * 1000), request_id)
        await self.publisher.publish(
            self.topic, [(r.key, r.value) for r in records], self.settings.ack_deadline_s
        )
        for record in records:
            self.metrics.events.labels(record.envelope.platform, record.envelope.kind).inc()
        event(log, "webhook_accepted", logging.DEBUG, events=len(records), bytes=len(body))
        return len(records)

    def _reject(self, exc: Exception, status: int, reason: str,
                headers: dict[str, str] | None = None) -> Response:
        self.metrics.rejections.labels(reason).inc()
        self.metrics.requests.labels("webhook", str(status)).inc()
        event(log, "webhook_rejected", logging.WARNING, status=status, reason=reason,
              detail=str(exc))
        return JSONResponse({"error": reason, "detail": str(exc)}, status, headers=headers)


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"body of {declared} bytes exceeds the {limit}-byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)
