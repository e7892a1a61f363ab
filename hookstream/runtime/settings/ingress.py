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
        )

    def require(self) -> None:
        """Fail at start, naming the first required setting that is missing."""
        if not self.app_secrets:
            raise ConfigError(
                "HOOKSTREAM_APP_SECRETS is required: comma-separated Meta app secrets"
            )
        if not self.verify_token:
            raise ConfigError("HOOKSTREAM_VERIFY_TOKEN is required: the webhook verify token")
