"""Which Kafka the tests talk to: `HOOKSTREAM_TEST_BROKER`.

- unset or `kafka`: real Apache Kafka 4.x as a local JVM process (hookstream.embedded.apache_kafka),
  wherever Java 17+ and Maven (or an already resolved jar cache) are present; else the embedded
  broker, saying why once at the top of the run.
- `embedded`: the embedded Tansu broker (what `make up` runs; no Java).
- `docker`: Apache Kafka in a container (testcontainers), where a Docker engine answers.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hookstream.embedded import kafka_maven
from hookstream.embedded.apache_kafka import ApacheKafka
from hookstream.embedded.tansu import EmbeddedBroker
from hookstream.runtime.errors import ConfigError

# One Kafka version across the project: deploy/kafka/pom.xml, docker-compose.yml and this image.
KAFKA_IMAGE = "apache/kafka:4.4.0"


def requested_broker() -> str:
    """`kafka` (default), `embedded` or `docker`."""
    wanted = os.environ.get("HOOKSTREAM_TEST_BROKER", "kafka").strip().lower() or "kafka"
    aliases = {"tansu": "embedded", "apache": "kafka", "real": "kafka"}
    wanted = aliases.get(wanted, wanted)
    if wanted not in ("kafka", "embedded", "docker"):
        raise ConfigError(f"HOOKSTREAM_TEST_BROKER={wanted!r}: expected kafka, embedded or docker")
    return wanted


def local_kafka_unavailable_reason() -> str | None:
    """None when a local Apache Kafka can run here, else why not."""
    try:
        kafka_maven.java_binary()
        version = kafka_maven.kafka_version()
    except ConfigError as exc:
        return str(exc)
    cache = kafka_maven.cache_dir(version)
    if kafka_maven.missing_jars(cache, version) and not shutil.which("mvn"):
        return f"Apache Kafka's jars are not in {cache} and Maven is missing: apt-get install maven"
    return None


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
    kind: str = "kafka"  # "kafka" (local Apache Kafka), "embedded" (Tansu), "docker"
    log_path: Path | None = None

    @property
    def real_kafka(self) -> bool:
        return self.kind != "embedded"


@contextlib.contextmanager
def docker_kafka() -> Iterator[RunningKafka]:
    """apache/kafka (KRaft, one combined node) in a container, on a fixed free host port.

    testcontainers' KafkaContainer drives Confluent's image scripts, so the official image is run
    as a plain container configured through its KAFKA_* variables (all of them: given any, the
    image uses none of its defaults)."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    from hookstream.runtime.ports import free_port

    port = free_port()
    env = {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{port}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
    }
    container = DockerContainer(KAFKA_IMAGE).with_bind_ports(9092, port)
    for key, value in env.items():
        container = container.with_env(key, value)
    with container:
        wait_for_logs(container, "Kafka Server started", timeout=120)
        yield RunningKafka(f"127.0.0.1:{port}", idempotence=True, kind="docker")


@contextlib.contextmanager
def local_kafka(root: Path) -> Iterator[RunningKafka]:
    """One local Apache Kafka node (combined broker + controller) for the session."""
    with ApacheKafka(root) as cluster:
        yield RunningKafka(
            cluster.bootstrap_servers, idempotence=True, kind="kafka", log_path=cluster.log_paths[0]
        )


@contextlib.contextmanager
def embedded_kafka(log_path: Path) -> Iterator[RunningKafka]:
    with EmbeddedBroker(log_path=log_path) as broker:
        yield RunningKafka(
            broker.bootstrap_servers, idempotence=False, kind="embedded", log_path=log_path
        )
