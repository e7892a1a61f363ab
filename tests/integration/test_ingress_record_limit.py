"""The broker's record size, a permanent limit (issue 11, item 3): the publisher learns a
topic's max.message.bytes and refuses bigger records before producing; the broker's own
MSG_SIZE_TOO_LARGE is EventTooLarge (413), never BrokerUnavailable (503).

Real Kafka reports topic configs and enforces them; the embedded broker reports the configs a
topic was created with but takes records of any size, so there the broker's refusal is not
tested (the configured limit still applies: see test_ingress_regressions' 1,000,000-character
text)."""

from __future__ import annotations

import asyncio

import pytest
from confluent_kafka import KafkaException

from hookstream.runtime.kafka import TopicSpec, ensure_topics
from hookstream.runtime.settings import KafkaSettings
from ingress.errors import EventTooLarge
from ingress.publisher import RECORD_OVERHEAD, KafkaPublisher, topic_max_message_bytes
from tests.support.http import wait_until

pytestmark = pytest.mark.integration

SMALL_LIMIT = 100_000


@pytest.fixture
async def small_topic(kafka_settings: KafkaSettings) -> str:
    spec = TopicSpec("small-records", {"max.message.bytes": str(SMALL_LIMIT)})
    await ensure_topics(kafka_settings, [spec])
    topic = kafka_settings.topic(spec.name)
    config = {"bootstrap.servers": kafka_settings.bootstrap_servers}
    for _ in range(40):  # a new topic takes a moment to be known to every node
        try:
            reported = await asyncio.to_thread(topic_max_message_bytes, config, topic, 5.0)
            break
        except KafkaException:
            await asyncio.sleep(0.25)
    else:
        raise AssertionError(f"the broker never described {topic}")
    if reported is None:
        pytest.skip("this broker reports no topic configs (the embedded one)")
    assert reported == SMALL_LIMIT
    return topic


async def test_the_topics_limit_is_learnt_and_checked_before_producing(
    kafka_settings: KafkaSettings, small_topic: str
) -> None:
    publisher = KafkaPublisher(kafka_settings, check_interval_s=0.2, limit_topic=small_topic)
    await publisher.start()
    try:
        await wait_until(lambda: publisher.record_limit == SMALL_LIMIT - RECORD_OVERHEAD)
        with pytest.raises(EventTooLarge, match="at most"):
            await publisher.publish(small_topic, [(b"k", b"x" * 150_000)], deadline_s=5.0)
        await publisher.publish(small_topic, [(b"k", b"x" * 50_000)], deadline_s=10.0)
    finally:
        await publisher.stop()


async def test_the_brokers_msg_size_too_large_is_event_too_large(
    kafka_settings: KafkaSettings, small_topic: str
) -> None:
    # Not told the topic's limit: the record reaches the broker, which refuses it.
    publisher = KafkaPublisher(kafka_settings, check_interval_s=0.2)
    await publisher.start()
    try:
        try:
            await publisher.publish(small_topic, [(b"k", b"x" * 150_000)], deadline_s=10.0)
        except EventTooLarge as exc:
            assert "too large" in str(exc)
        else:
            pytest.skip("this broker does not enforce max.message.bytes (the embedded one)")
    finally:
        await publisher.stop()
