"""`hookstream up --broker kafka`'s stack: the durable local Apache Kafka in the state dir keeps
every topic and record across a restart of the stack; the stack file says what it runs on."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from aiokafka import TopicPartition

from hookstream.embedded import stack_file
from hookstream.embedded.apache_kafka import ApacheKafka
from hookstream.embedded.processes import free_port
from hookstream.embedded.stack import DEV_DEFAULTS, ServiceSpec, Stack
from hookstream.runtime.kafka import new_consumer
from hookstream.runtime.settings import KafkaSettings
from ingress.signature import sign
from tests.support.brokers import local_kafka_unavailable_reason
from tests.support.meta_samples import one_message_body
from tests.support.stack_rig import send_message, sink_stack, traced, wait_stored

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _post(port: int, mid: str) -> int:
    body = one_message_body(mid)
    headers = {
        "content-type": "application/json",
        "x-hub-signature-256": sign(body, DEV_DEFAULTS["HOOKSTREAM_APP_SECRETS"]),
    }
    deadline = time.monotonic() + 60
    while httpx.get(f"http://127.0.0.1:{port}/readyz").status_code != 200:
        assert time.monotonic() < deadline, "ingress never became ready"
        time.sleep(0.2)
    response = httpx.post(f"http://127.0.0.1:{port}/webhook", content=body, headers=headers)
    return response.status_code


async def _records_on_inbound(bootstrap: str, partitions: int) -> int:
    kafka = KafkaSettings(bootstrap_servers=bootstrap)
    consumer = new_consumer(kafka, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(kafka.topic("inbound"), p) for p in range(partitions)]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


def test_a_restarted_kafka_stack_keeps_its_topics(tmp_path: Path) -> None:
    reason = local_kafka_unavailable_reason()
    if reason:
        pytest.skip(reason)
    port = free_port()

    def stack() -> Stack:
        return Stack(
            settings_env={},
            partitions=2,
            state_dir=tmp_path,
            services=(ServiceSpec("ingress", port, "webhooks"),),
            broker=ApacheKafka(tmp_path / "kafka", ports=(free_port(),)),
        )

    first = stack()
    first.start()
    try:
        described = stack_file.read(tmp_path / "stack.json")
        assert described is not None
        assert (described.broker, described.idempotence) == ("kafka", True)
        assert "Apache Kafka, log in" in first.banner()
        assert _post(port, "m-durable-1") == 200
    finally:
        first.stop()
    assert not (tmp_path / "stack.json").exists()

    second = stack()  # another port, the same log dir
    second.start()
    try:
        assert isinstance(first.broker, ApacheKafka) and isinstance(second.broker, ApacheKafka)
        assert second.broker.cluster_id == first.broker.cluster_id
        assert _post(port, "m-durable-2") == 200
        assert asyncio.run(_records_on_inbound(second.broker.bootstrap_servers, 2)) == 2
    finally:
        second.stop()


def test_a_restarted_kafka_stack_keeps_its_analytics_with_its_log(tmp_path: Path) -> None:
    """The durable Kafka keeps its topics, and the engine's data stays with them: stats and
    trace after a restart still show the previous run's events."""
    reason = local_kafka_unavailable_reason()
    if reason:
        pytest.skip(reason)

    def kafka() -> ApacheKafka:
        return ApacheKafka(tmp_path / "kafka", ports=(free_port(),))

    first = sink_stack(tmp_path, kafka())
    first.start()
    try:
        before = send_message(first, 0)
        assert wait_stored(tmp_path, 1)["events"] == 1
    finally:
        first.stop()
    second = sink_stack(tmp_path, kafka())
    second.start()
    try:
        assert not (tmp_path / "previous-run").exists()
        after = send_message(second, 1)
        assert wait_stored(tmp_path, 2)["events"] == 2  # both runs' messages
        assert traced(tmp_path, before) and traced(tmp_path, after)
    finally:
        second.stop()
