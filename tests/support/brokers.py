"""Which Kafka the tests talk to.

By default the embedded Tansu broker. With HOOKSTREAM_TEST_BROKER=docker and a Docker engine
that answers, real Apache Kafka in a container (testcontainers): the same suite, real Kafka.
"""

from __future__ import annotations

import contextlib
import gc
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hookstream.embedded.broker import EmbeddedBroker

KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"


def docker_unavailable_reason() -> str | None:
    """None when a Docker engine answers, else why not (for a clear skip message)."""
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return "no Docker engine (no DOCKER_HOST, no /var/run/docker.sock): testcontainers skipped"
    import docker

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # docker-py leaks a socket on failure
        try:
            client = docker.from_env()
            try:
                client.ping()
            finally:
                client.close()
        except Exception as exc:  # noqa: BLE001 - any failure means no usable engine
            return f"no Docker engine answers ({type(exc).__name__}): testcontainers skipped"
        finally:
            gc.collect()
    return None


@dataclass(frozen=True)
class RunningKafka:
    bootstrap_servers: str
    idempotence: bool  # real Kafka: yes; Tansu cannot answer InitProducerId


@contextlib.contextmanager
def docker_kafka() -> Iterator[RunningKafka]:
    from testcontainers.community.kafka import KafkaContainer

    with KafkaContainer(KAFKA_IMAGE).with_kraft() as kafka:
        yield RunningKafka(kafka.get_bootstrap_server(), idempotence=True)


@contextlib.contextmanager
def embedded_kafka(log_path: Path) -> Iterator[RunningKafka]:
    with EmbeddedBroker(log_path=log_path) as broker:
        yield RunningKafka(broker.bootstrap_servers, idempotence=False)
