"""Settings of the webhook ingress and the proactive-send API: `HOOKSTREAM_INGRESS_<FIELD>`."""

from __future__ import annotations

from dataclasses import dataclass

from hookstream.runtime.errors import ConfigError
from hookstream.runtime.settings.env import Secret
from hookstream.runtime.settings.rule import env_name, setting


@dataclass(frozen=True)
class IngressSettings:
    # The public contract's names, not the rule's HOOKSTREAM_INGRESS_APP_SECRETS and so on.
    app_secrets: tuple[Secret, ...] = setting((), name="HOOKSTREAM_APP_SECRETS")
    verify_token: Secret = setting(Secret(""), name="HOOKSTREAM_VERIFY_TOKEN")
    api_key: Secret = setting(Secret(""), name="HOOKSTREAM_API_KEY")
    allow_sha1_signature: bool = setting(False, old=("HOOKSTREAM_ALLOW_SHA1_SIGNATURE",))
    ack_deadline_s: float = setting(3.0, old=("HOOKSTREAM_ACK_DEADLINE_S",))
    max_body_bytes: int = setting(1024 * 1024, old=("HOOKSTREAM_MAX_BODY_BYTES",))
    retry_after_s: int = setting(5, old=("HOOKSTREAM_RETRY_AFTER_S",))
    readiness_interval_s: float = setting(1.0, old=("HOOKSTREAM_READINESS_INTERVAL_S",))
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
    # Slow or huge heads (request line and headers): a head must arrive within head_timeout_s
    # of the connection or of the request's first byte (else 408), and be at most
    # max_head_bytes long (else 431); both close the connection. See guarded_httptools.
    head_timeout_s: float = 10.0
    max_head_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        for field in (
            "body_timeout_s",
            "max_events",
            "max_requests",
            "max_inflight_bytes",
            "head_timeout_s",
            "max_head_bytes",
        ):
            value = getattr(self, field)
            if value <= 0:
                raise ConfigError(f"{env_name('ingress', field)} must be positive, got {value}")
        if self.small_body_bytes < 0:
            raise ConfigError(f"{env_name('ingress', 'small_body_bytes')} must not be negative")
        if not 4096 <= self.max_record_bytes <= 1_000_000_000:
            raise ConfigError(
                f"{env_name('ingress', 'max_record_bytes')} must be between 4096 and "
                f"1000000000, got {self.max_record_bytes}"
            )

    def require(self) -> None:
        """Fail at start, naming the first required setting that is missing."""
        if not self.app_secrets:
            raise ConfigError(
                "HOOKSTREAM_APP_SECRETS is required: comma-separated Meta app secrets"
            )
        if not self.verify_token:
            raise ConfigError("HOOKSTREAM_VERIFY_TOKEN is required: the webhook verify token")
