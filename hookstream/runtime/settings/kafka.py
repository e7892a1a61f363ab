"""Kafka connection and topic settings: `KAFKA_<FIELD>` (see rule.py)."""

from __future__ import annotations

from dataclasses import dataclass

from hookstream.runtime.settings.env import Secret
from hookstream.runtime.settings.rule import setting


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str = "127.0.0.1:9092"
    # the public contract's name (the rule would say KAFKA_TOPIC_PREFIX)
    topic_prefix: str = setting("hookstream.", name="HOOKSTREAM_TOPIC_PREFIX")
    partitions: int = setting(8, old=("HOOKSTREAM_PARTITIONS",))
    replication_factor: int = setting(1, old=("HOOKSTREAM_REPLICATION_FACTOR",))
    # Idempotent producer on real Kafka; the embedded Tansu broker cannot (InitProducerId fails).
    enable_idempotence: bool = True
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: Secret = Secret("")
    request_timeout_s: float = 10.0
    linger_ms: int = 0

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
