"""The ingress against real Apache Kafka in a container, with the idempotent producer on.

This is how users with Docker check hookstream against a real broker; where no Docker engine
answers (as on the embedded-defaults CI), it is skipped with the reason.
"""

from __future__ import annotations

import httpx
import orjson
import pytest

from hookstream.runtime.kafka import ensure_topics
from ingress.app import create_app
from ingress.signature import sign
from schemas.envelope import decode_envelope
from tests.conftest import TEST_SECRET, kafka_settings_for, settings_for
from tests.support.brokers import docker_kafka, docker_unavailable_reason
from tests.support.http import serve
from tests.support.kafka import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.docker]


@pytest.fixture(scope="module")
def real_kafka():  # type: ignore[no-untyped-def]
    reason = docker_unavailable_reason()
    if reason:
        pytest.skip(reason)
    with docker_kafka() as kafka:
        yield kafka


async def test_ingress_writes_to_real_kafka_with_idempotence(real_kafka) -> None:  # type: ignore[no-untyped-def]
    kafka = kafka_settings_for(real_kafka, partitions=8)
    assert kafka.enable_idempotence
    await ensure_topics(kafka)
    settings = settings_for(kafka)
    events = [
        {
            "sender": {"id": f"u{i % 5}"},
            "recipient": {"id": "1001"},
            "timestamp": i + 1,
            "message": {"mid": f"real-{i}", "text": "hi"},
        }
        for i in range(20)
    ]
    body = orjson.dumps({"object": "page", "entry": [{"id": "1001", "messaging": events}]})
    headers = {"content-type": "application/json", "x-hub-signature-256": sign(body, TEST_SECRET)}
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.post("/webhook", content=body, headers=headers)).status_code == 200
    records = await read_topic(kafka, "inbound", expected=20)
    assert sorted(decode_envelope(r.value).event_id for r in records) == sorted(
        f"message:real-{i}" for i in range(20)
    )
