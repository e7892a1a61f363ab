"""One Kafka version across the project: the Maven release the tests and `up --broker kafka` run,
docker-compose's image and the testcontainers image."""

from __future__ import annotations

import re
from pathlib import Path

from hookstream.embedded import kafka_maven
from tests.support.brokers import KAFKA_IMAGE

ROOT = Path(__file__).resolve().parents[4]


def test_compose_testcontainers_and_maven_run_the_same_kafka() -> None:
    version = kafka_maven.kafka_version()
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    images = re.findall(r"image:\s*apache/kafka:(\S+)", compose)
    assert images == [version]
    assert KAFKA_IMAGE == f"apache/kafka:{version}"
    assert version.split(".")[0] == "4"
