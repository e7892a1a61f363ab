"""Shared fixtures: one broker for the session (real Apache Kafka by default), fresh topics per
test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import pytest

from hookstream.embedded import kafka_maven
from hookstream.embedded.tansu import EmbeddedBroker
from hookstream.runtime.kafka import ensure_topics
from hookstream.runtime.settings import IngressSettings, KafkaSettings, Secret, Settings
from tests.support.brokers import (
    KAFKA_IMAGE,
    RunningKafka,
    docker_kafka,
    docker_unavailable_reason,
    embedded_kafka,
    local_kafka,
    local_kafka_unavailable_reason,
    requested_broker,
)

TEST_SECRET = "test-app-secret"
TEST_VERIFY_TOKEN = "test-verify-token"
TEST_API_KEY = "test-api-key"


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningKafka]:
    """The session's Kafka (HOOKSTREAM_TEST_BROKER, see tests/support/brokers.py): a local Apache
    Kafka by default where Java and Maven are present, else the embedded Tansu broker."""
    kind = requested_broker()
    if kind == "docker":
        reason = docker_unavailable_reason()
        if reason:
            pytest.skip(reason)
        with docker_kafka() as running:
            yield running
        return
    if kind == "kafka":
        reason = local_kafka_unavailable_reason()
        if reason is None:
            with local_kafka(tmp_path_factory.mktemp("kafka")) as running:
                yield running
            return
        # no local Apache Kafka here: the embedded broker (the report header says why)
    with embedded_kafka(tmp_path_factory.mktemp("broker") / "broker.log") as running:
        yield running


def pytest_report_header(config: pytest.Config) -> str:
    kind = requested_broker()
    if kind == "kafka" and (reason := local_kafka_unavailable_reason()):
        return f"broker: embedded Tansu (no local Apache Kafka: {reason})"
    names = {
        "kafka": f"Apache Kafka {kafka_maven.kafka_version()} (local JVM, KRaft)",
        "embedded": "embedded Tansu",
        "docker": f"Apache Kafka in Docker ({KAFKA_IMAGE})",
    }
    return f"broker: {names[kind]} (HOOKSTREAM_TEST_BROKER={kind})"


def kafka_settings_for(broker: RunningKafka | EmbeddedBroker, partitions: int = 4) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=broker.bootstrap_servers,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        partitions=partitions,
        enable_idempotence=getattr(broker, "idempotence", False),
        request_timeout_s=5.0,
    )


@pytest.fixture
async def kafka_settings(broker: RunningKafka) -> AsyncIterator[KafkaSettings]:
    """Settings with a fresh topic prefix; every pipeline topic created before the test."""
    settings = kafka_settings_for(broker)
    await ensure_topics(settings)
    yield settings


def settings_for(kafka: KafkaSettings, **ingress_overrides: object) -> Settings:
    ingress = IngressSettings(
        app_secrets=(Secret(TEST_SECRET),),
        verify_token=Secret(TEST_VERIFY_TOKEN),
        api_key=Secret(TEST_API_KEY),
        readiness_interval_s=0.25,
    )
    return Settings(kafka=kafka, ingress=replace(ingress, **ingress_overrides))  # type: ignore[arg-type]


@pytest.fixture
def settings(kafka_settings: KafkaSettings) -> Settings:
    return settings_for(kafka_settings)
