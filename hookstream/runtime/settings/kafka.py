"""Kafka connection and topic settings."""

from __future__ import annotations

from dataclasses import dataclass

from hookstream.runtime.settings.env import Env, Secret


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = "hookstream."
    partitions: int = 8
    replication_factor: int = 1
    # Idempotent producer on real Kafka; the embedded Tansu broker cannot (InitProducerId fails).
    enable_idempotence: bool = True
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: Secret = Secret("")
    request_timeout_s: float = 10.0
    linger_ms: int = 0

    @classmethod
    def from_env(cls, env: Env) -> KafkaSettings:
        return cls(
            bootstrap_servers=env.string("KAFKA_BOOTSTRAP_SERVERS", cls.bootstrap_servers),
            topic_prefix=env.string("HOOKSTREAM_TOPIC_PREFIX", cls.topic_prefix),
            partitions=env.integer("HOOKSTREAM_PARTITIONS", cls.partitions),
            replication_factor=env.integer("HOOKSTREAM_REPLICATION_FACTOR", cls.replication_factor),
            enable_idempotence=env.flag("KAFKA_ENABLE_IDEMPOTENCE", cls.enable_idempotence),
            security_protocol=env.string("KAFKA_SECURITY_PROTOCOL", cls.security_protocol),
            sasl_mechanism=env.string("KAFKA_SASL_MECHANISM"),
            sasl_username=env.string("KAFKA_SASL_USERNAME"),
            sasl_password=env.secret("KAFKA_SASL_PASSWORD"),
            request_timeout_s=env.number("KAFKA_REQUEST_TIMEOUT_S", cls.request_timeout_s),
            linger_ms=env.integer("KAFKA_LINGER_MS", cls.linger_ms),
        )

    @property
    def full_protocol(self) -> bool:
        """Whether the broker speaks the whole Kafka protocol (Apache Kafka does), so tools use
        the normal calls: idempotent producers, committed offsets through the admin API.
        Idempotence tells: it is off only for a broker that cannot answer InitProducerId, the
        embedded Tansu broker, whose other defects (DESIGN.md) the tools then work around.
        Both paths give the same figures."""
        return self.enable_idempotence

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"
