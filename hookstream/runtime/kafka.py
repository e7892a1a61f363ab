"""Kafka client factories and topic management, shared by every service.

Producers always use acks=all; idempotence follows the settings (on for real Kafka, off for the
embedded broker, which cannot answer InitProducerId).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.helpers import create_ssl_context
from aiokafka.partitioner import murmur2

from hookstream.runtime.errors import HookstreamError
from hookstream.runtime.logging import event, get_logger
from hookstream.runtime.settings import KafkaSettings

log = get_logger("kafka")

TOPIC_ALREADY_EXISTS = 36


@dataclass(frozen=True)
class TopicSpec:
    name: str
    config: dict[str, str] = field(default_factory=dict)


# The sender ledger's horizon (senders/ledger.py): its entries are kept this long, no longer.
LEDGER_RETENTION_MS = 30 * 86_400_000

# Names after the prefix. The ledger is compacted (one record per delivered command id) and kept
# for the ledger's horizon (daily segments, so whole days go once older than it).
PIPELINE_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("inbound"),
    TopicSpec("outbound"),
    TopicSpec("analytics"),
    TopicSpec("dlq"),
    TopicSpec(
        "sender-ledger",
        {
            "cleanup.policy": "compact,delete",
            "retention.ms": str(LEDGER_RETENTION_MS),
            "segment.ms": "86400000",
        },
    ),
)


class CachedPartitioner:
    """Kafka's default partitioning (murmur2 of the key, as aiokafka and the Java client do),
    memoized per key: aiokafka's murmur2 is pure Python, and conversations repeat."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._hashes: dict[bytes, int] = {}
        self._max_keys = max_keys

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return random.choice(available or all_partitions)  # noqa: S311 - not security
        digest = self._hashes.get(key)
        if digest is None:
            if len(self._hashes) >= self._max_keys:
                self._hashes.clear()
            digest = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[digest % len(all_partitions)]


def connection_config(settings: KafkaSettings) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "request_timeout_ms": int(settings.request_timeout_s * 1000),
        "security_protocol": settings.security_protocol,
    }
    if settings.sasl_mechanism:
        config.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.sasl_username,
            sasl_plain_password=settings.sasl_password.reveal(),
        )
    if settings.security_protocol.upper().endswith("SSL"):
        # aiokafka needs the context itself (the system's CAs, hostname checked).
        config["ssl_context"] = create_ssl_context()
    return config


def librdkafka_config(settings: KafkaSettings, linger_ms: float) -> dict[str, Any]:
    """The ingress's librdkafka producer: acks=all, Java-compatible key partitioning (so records
    land where aiokafka and the Java client would put them), and per-partition order kept under
    retries: up to 5 requests in flight with idempotence, else one."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "security.protocol": settings.security_protocol.lower(),
        "acks": "all",
        "enable.idempotence": settings.enable_idempotence,
        "max.in.flight.requests.per.connection": 5 if settings.enable_idempotence else 1,
        "linger.ms": linger_ms,
        "partitioner": "murmur2_random",
        "socket.timeout.ms": int(settings.request_timeout_s * 1000),
    }
    if settings.sasl_mechanism:
        config.update(
            {
                "sasl.mechanism": settings.sasl_mechanism,
                "sasl.username": settings.sasl_username,
                "sasl.password": settings.sasl_password.reveal(),
            }
        )
    return config


def new_producer(settings: KafkaSettings, **overrides: Any) -> AIOKafkaProducer:
    config = connection_config(settings)
    config.update(
        acks="all",
        enable_idempotence=settings.enable_idempotence,
        linger_ms=settings.linger_ms,
        max_batch_size=256 * 1024,
    )
    config.update(overrides)
    return AIOKafkaProducer(**config)


def new_consumer(
    settings: KafkaSettings, *topics: str, group_id: str | None, **overrides: Any
) -> AIOKafkaConsumer:
    config = connection_config(settings)
    config.update(
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_uncommitted",
    )
    config.update(overrides)
    return AIOKafkaConsumer(*topics, **config)


def new_admin(settings: KafkaSettings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**connection_config(settings))


async def ensure_topics(
    settings: KafkaSettings, specs: Iterable[TopicSpec] = PIPELINE_TOPICS
) -> list[str]:
    """Create the pipeline's topics with the configured partition count; existing ones stay."""
    wanted = [
        NewTopic(
            name=settings.topic(spec.name),
            num_partitions=settings.partitions,
            replication_factor=settings.replication_factor,
            topic_configs=dict(spec.config),
        )
        for spec in specs
    ]
    admin = new_admin(settings)
    await admin.start()
    try:
        response = await admin.create_topics(wanted)
    finally:
        await admin.close()
    created = []
    for name, code, *_ in response.topic_errors:
        if code not in (0, TOPIC_ALREADY_EXISTS):
            raise HookstreamError(f"creating topic {name} failed with Kafka error code {code}")
        if code == 0:
            created.append(name)
    event(log, "topics_ready", created=created, partitions=settings.partitions)
    return created


async def wait_for_broker(settings: KafkaSettings, timeout_s: float = 30.0) -> None:
    """Block until the bootstrap servers answer a metadata request."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = new_admin(settings)
        try:
            await admin.start()
            await admin.close()
            return
        except Exception as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise HookstreamError(
                    f"Kafka at {settings.bootstrap_servers} did not answer within {timeout_s}s"
                ) from exc
            await asyncio.sleep(0.2)
