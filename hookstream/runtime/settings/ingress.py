"""Settings of the webhook ingress and the proactive-send API."""

from __future__ import annotations

from dataclasses import dataclass

from hookstream.runtime.errors import ConfigError
from hookstream.runtime.settings.env import Env, Secret


@dataclass(frozen=True)
class IngressSettings:
    app_secrets: tuple[Secret, ...] = ()
    verify_token: Secret = Secret("")
    api_key: Secret = Secret("")
    allow_sha1_signature: bool = False
    ack_deadline_s: float = 3.0
    max_body_bytes: int = 1024 * 1024
    retry_after_s: int = 5
    readiness_interval_s: float = 1.0
    # librdkafka's linger: how long the producer gathers concurrent requests' records into one
    # produce request. Measured best for throughput and latency on the embedded broker.
    linger_ms: float = 0.5
    # The largest record (key + value + ~256 bytes of framing) the ingress produces; also
    # librdkafka's message.max.bytes. Lowered to the topic's max.message.bytes if the broker
    # reports a smaller one. An event beyond it is answered 413 event_too_large.
    max_record_bytes: int = 1_000_000
    # More events than this in one body: 413 too_many_events (Meta batches up to 1,000).
    max_events: int = 10_000
    # Slow clients: a body must arrive within body_timeout_s of its headers (else 408 and the
    # connection is closed); body bytes held across connections beyond small_body_bytes per
    # request are capped at max_inflight_bytes, and requests in progress at max_requests
    # (else 503 server_busy with Retry-After).
    body_timeout_s: float = 5.0
    max_inflight_bytes: int = 16 * 1024 * 1024
    small_body_bytes: int = 64 * 1024
    max_requests: int = 1024

    @classmethod
    def from_env(cls, env: Env) -> IngressSettings:
        return cls(
            app_secrets=env.secrets("HOOKSTREAM_APP_SECRETS"),
            verify_token=env.secret("HOOKSTREAM_VERIFY_TOKEN"),
            api_key=env.secret("HOOKSTREAM_API_KEY"),
            allow_sha1_signature=env.flag("HOOKSTREAM_ALLOW_SHA1_SIGNATURE", False),
            ack_deadline_s=env.number("HOOKSTREAM_ACK_DEADLINE_S", cls.ack_deadline_s),
            max_body_bytes=env.integer("HOOKSTREAM_MAX_BODY_BYTES", cls.max_body_bytes),
            retry_after_s=env.integer("HOOKSTREAM_RETRY_AFTER_S", cls.retry_after_s),
            readiness_interval_s=env.number(
                "HOOKSTREAM_READINESS_INTERVAL_S", cls.readiness_interval_s
            ),
            linger_ms=env.number("HOOKSTREAM_INGRESS_LINGER_MS", cls.linger_ms),
            max_record_bytes=env.integer(
                "HOOKSTREAM_INGRESS_MAX_RECORD_BYTES", cls.max_record_bytes
            ),
            max_events=env.integer("HOOKSTREAM_INGRESS_MAX_EVENTS", cls.max_events),
            body_timeout_s=env.number("HOOKSTREAM_INGRESS_BODY_TIMEOUT_S", cls.body_timeout_s),
            max_inflight_bytes=env.integer(
                "HOOKSTREAM_INGRESS_MAX_INFLIGHT_BYTES", cls.max_inflight_bytes
            ),
            small_body_bytes=env.integer(
                "HOOKSTREAM_INGRESS_SMALL_BODY_BYTES", cls.small_body_bytes
            ),
            max_requests=env.integer("HOOKSTREAM_INGRESS_MAX_REQUESTS", cls.max_requests),
        )

    def __post_init__(self) -> None:
        positive = {
            "HOOKSTREAM_INGRESS_BODY_TIMEOUT_S": self.body_timeout_s,
            "HOOKSTREAM_INGRESS_MAX_EVENTS": self.max_events,
            "HOOKSTREAM_INGRESS_MAX_REQUESTS": self.max_requests,
            "HOOKSTREAM_INGRESS_MAX_INFLIGHT_BYTES": self.max_inflight_bytes,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{name} must be positive, got {value}")
        if self.small_body_bytes < 0:
            raise ConfigError("HOOKSTREAM_INGRESS_SMALL_BODY_BYTES must not be negative")
        if not 4096 <= self.max_record_bytes <= 1_000_000_000:
            raise ConfigError(
                "HOOKSTREAM_INGRESS_MAX_RECORD_BYTES must be between 4096 and 1000000000, "
                f"got {self.max_record_bytes}"
            )

    def require(self) -> None:
        """Fail at start, naming the first required setting that is missing."""
        if not self.app_secrets:
            raise ConfigError(
                "HOOKSTREAM_APP_SECRETS is required: comma-separated Meta app secrets"
            )
        if not self.verify_token:
            raise ConfigError("HOOKSTREAM_VERIFY_TOKEN is required: the webhook verify token")
