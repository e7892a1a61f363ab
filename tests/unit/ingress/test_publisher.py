from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest
from confluent_kafka import KafkaError, KafkaException

from hookstream.runtime.errors import BrokerUnavailable
from hookstream.runtime.settings import KafkaSettings
from ingress.errors import EventTooLarge
from ingress.publisher import (
    MAX_POLL_INTERVAL_S,
    PATIENT_POLLS,
    POLL_INTERVAL_S,
    KafkaPublisher,
    Waiter,
    next_poll_interval,
)


async def test_a_request_is_done_when_every_record_is_acknowledged() -> None:
    waiter = Waiter(asyncio.get_running_loop().create_future(), remaining=2)
    waiter.delivered(None, None)  # type: ignore[arg-type]
    assert not waiter.future.done()
    waiter.delivered(None, None)  # type: ignore[arg-type]
    assert waiter.future.done() and waiter.future.result() is None


async def test_one_refused_record_fails_the_request_with_the_reason() -> None:
    waiter = Waiter(asyncio.get_running_loop().create_future(), remaining=2)
    waiter.delivered(KafkaError(KafkaError._MSG_TIMED_OUT), None)  # type: ignore[arg-type]
    waiter.delivered(None, None)  # type: ignore[arg-type]
    with pytest.raises(BrokerUnavailable, match="Kafka did not take a record"):
        waiter.future.result()


class FullQueue:
    """librdkafka's answer when its local queue is full (the broker is not draining)."""

    def __init__(self, _config: dict[str, Any]) -> None:
        pass

    def produce(self, *_args: Any, **_kwargs: Any) -> None:
        raise BufferError("Local: Queue full")

    def list_topics(self, *_args: Any) -> None:
        return None

    def __len__(self) -> int:
        return 0

    def poll(self, _timeout: float) -> int:
        return 0

    def purge(self) -> None:
        pass


async def test_a_full_producer_queue_is_a_503_not_a_crash() -> None:
    publisher = KafkaPublisher(KafkaSettings(), producer_factory=FullQueue)  # type: ignore[arg-type]
    await publisher.start()
    try:
        with pytest.raises(BrokerUnavailable, match="queue is full"):
            await publisher.publish("inbound", [(b"k", b"v")], deadline_s=1.0)
    finally:
        await publisher.stop(grace_s=0)


async def test_publishing_before_start_is_refused() -> None:
    with pytest.raises(BrokerUnavailable, match="not been started"):
        await KafkaPublisher(KafkaSettings()).publish("inbound", [(b"k", b"v")], 1.0)


def test_polling_backs_off_only_while_the_broker_stays_silent() -> None:
    interval = POLL_INTERVAL_S
    for empty in range(1, PATIENT_POLLS):
        interval = next_poll_interval(interval, empty)
    assert interval == POLL_INTERVAL_S  # a healthy broker's few ms: no added latency
    for empty in range(PATIENT_POLLS, PATIENT_POLLS + 10):
        interval = next_poll_interval(interval, empty)
    assert interval == MAX_POLL_INTERVAL_S
    assert next_poll_interval(interval, empty_polls=0) == POLL_INTERVAL_S


# --- a record larger than the broker takes is permanent: 413, never 503 (issue 11) ----------


class Recording(FullQueue):
    """Takes every record (librdkafka would, below message.max.bytes)."""

    config: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: dict[str, Any]) -> None:
        Recording.config = config
        self.produced: list[tuple[Any, ...]] = []

    def produce(self, *args: Any, **_kwargs: Any) -> None:
        self.produced.append(args)


class TooLargeAtProduce(FullQueue):
    def produce(self, *_args: Any, **_kwargs: Any) -> None:
        raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))


async def test_a_record_over_the_limit_is_refused_before_anything_is_produced() -> None:
    publisher = KafkaPublisher(
        KafkaSettings(),
        producer_factory=Recording,  # type: ignore[arg-type]
        max_record_bytes=10_000,
    )
    await publisher.start()
    try:
        records = [(b"k", b"small"), (b"k", b"x" * 10_000)]
        with pytest.raises(EventTooLarge, match="at most 9744 bytes"):
            await publisher.publish("inbound", records, deadline_s=1.0)
        assert publisher.producer.produced == []  # type: ignore[attr-defined]
        assert Recording.config["message.max.bytes"] == 10_000
        assert EventTooLarge.status_code == 413 and EventTooLarge.reason == "event_too_large"
    finally:
        await publisher.stop(grace_s=0)


async def test_librdkafkas_msg_size_too_large_is_event_too_large() -> None:
    publisher = KafkaPublisher(KafkaSettings(), producer_factory=TooLargeAtProduce)  # type: ignore[arg-type]
    await publisher.start()
    try:
        with pytest.raises(EventTooLarge, match="Kafka refused the record"):
            await publisher.publish("inbound", [(b"k", b"v")], deadline_s=1.0)
    finally:
        await publisher.stop(grace_s=0)
    waiter = Waiter(asyncio.get_running_loop().create_future(), remaining=1)
    waiter.delivered(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), None)  # type: ignore[arg-type]
    with pytest.raises(EventTooLarge, match="refused a record as too large"):
        waiter.future.result()
