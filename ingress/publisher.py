"""Writes records to Kafka and says when they are durable (acks=all), within a deadline.

The producer is librdkafka (confluent-kafka): batching, request encoding and the network run in
its own C threads, so concurrent webhooks share produce requests without costing the event loop
Python work per batch (with aiokafka that path was a third of the ingress's CPU). Delivery reports
are served by `poll(0)` on the event loop itself, after each publish and every `POLL_INTERVAL_S`
while records are outstanding: no poll thread, so no GIL hand-offs and no cross-thread wakeups.

Also owns readiness: a background check asks the broker for metadata every interval, so `/readyz`
turns 503 while the broker is unreachable and back to 200 when it answers, without a restart.

A record larger than the broker takes is a permanent condition, never a transient one: records are
checked against the record limit before anything of a request is produced (the smaller of the
configured limit, which is also librdkafka's `message.max.bytes`, and the topic's
`max.message.bytes` once the broker told it), and librdkafka's MSG_SIZE_TOO_LARGE, at produce or in
a delivery report, is answered the same way: EventTooLarge (413), not BrokerUnavailable (503).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource

from hookstream.runtime.errors import BrokerUnavailable
from hookstream.runtime.kafka import librdkafka_config
from hookstream.runtime.logging import event, get_logger
from hookstream.runtime.settings import KafkaSettings
from ingress.errors import EventTooLarge

log = get_logger("ingress.publisher")

KeyValue = tuple[bytes, bytes]
# Delivery reports are polled every 0.5 ms while records are outstanding. A healthy broker
# acknowledges within a few ms; after 20 polls in a row found nothing (a slow or stalled broker)
# the interval doubles up to 16 ms, so waiting on it costs no CPU.
POLL_INTERVAL_S = 0.0005
MAX_POLL_INTERVAL_S = 0.016
PATIENT_POLLS = 20
# What a record costs beyond its key and value inside a batch of one (batch header 61 bytes,
# record header up to ~30, rounded up): a record within limit - this fits the broker's limit.
RECORD_OVERHEAD = 256
DEFAULT_MAX_RECORD_BYTES = 1_000_000  # librdkafka's default message.max.bytes
# librdkafka settings that are a producer's, not a connection's (the admin client rejects them).
_PRODUCER_ONLY = (
    "acks",
    "enable.idempotence",
    "max.in.flight.requests.per.connection",
    "linger.ms",
    "partitioner",
    "message.max.bytes",
    "error_cb",
)
LIMIT_ATTEMPTS = 5


@dataclass(eq=False)
class Waiter:
    """One request: its future, and how many of its records are not acknowledged yet."""

    future: asyncio.Future[None]
    remaining: int = 0

    def fail(self, error: Exception) -> None:
        if not self.future.done():
            self.future.set_exception(error)

    def delivered(self, error: KafkaError | None, _message: Message) -> None:
        """librdkafka's delivery report for one of this request's records."""
        if error is not None:
            if error.code() == KafkaError.MSG_SIZE_TOO_LARGE:
                self.fail(EventTooLarge(f"the broker refused a record as too large: {error.str()}"))
            else:
                self.fail(BrokerUnavailable(f"Kafka did not take a record: {error.str()}"))
            return
        self.remaining -= 1
        if self.remaining == 0 and not self.future.done():
            self.future.set_result(None)


class KafkaPublisher:
    def __init__(
        self,
        settings: KafkaSettings,
        linger_ms: float = 0.5,
        check_interval_s: float = 1.0,
        producer_factory: Callable[[dict[str, Any]], Producer] = Producer,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        limit_topic: str | None = None,
    ) -> None:
        # librdkafka's own log lines repeat every reconnect; its errors come through error_cb,
        # logged once per kind until the broker answers again.
        self._config = {
            **librdkafka_config(settings, linger_ms),
            "message.max.bytes": max_record_bytes,
            "log_level": 0,
            "error_cb": self._on_error,
        }
        # Key + value bytes a record may have; lowered to the topic's max.message.bytes (learnt
        # from `limit_topic` once the broker answers) if that is smaller.
        self.record_limit = max_record_bytes - RECORD_OVERHEAD
        self._limit_topic = limit_topic
        self._limit_attempts = 0
        self._errors_seen: set[str] = set()
        self._check_interval_s = check_interval_s
        self._factory = producer_factory
        self._producer: Producer | None = None
        self._poll_timer: asyncio.TimerHandle | None = None
        self._poll_interval_s = POLL_INTERVAL_S
        self._empty_polls = 0
        self._watch: asyncio.Task[None] | None = None
        self.ready = False

    async def start(self) -> None:
        self._producer = self._factory(self._config)
        self._watch = asyncio.create_task(self._watch_broker(), name="publisher-watch")

    async def stop(self, grace_s: float = 5.0) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._producer is not None:
            await self._drain(self._producer, grace_s)
        if self._poll_timer is not None:
            self._poll_timer.cancel()
        self.ready = False

    async def _drain(self, producer: Producer, grace_s: float) -> None:
        """Deliver what is queued (reports served here, on the loop); fail what is left."""
        deadline = asyncio.get_running_loop().time() + grace_s
        while len(producer) and asyncio.get_running_loop().time() < deadline:
            producer.poll(0)
            await asyncio.sleep(0.01)
        producer.purge()
        producer.poll(0)

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            raise BrokerUnavailable("the publisher has not been started")
        return self._producer

    async def _watch_broker(self) -> None:
        while True:
            healthy = await self._broker_answers()
            if healthy != self.ready:
                event(log, "broker_ready" if healthy else "broker_unreachable")
            if healthy:
                self._errors_seen.clear()
                if self._limit_topic is not None:
                    await self._learn_record_limit(self._limit_topic)
            self.ready = healthy
            self.producer.poll(0)  # error callbacks, also while no webhook arrives
            await asyncio.sleep(self._check_interval_s)

    def _on_error(self, error: KafkaError) -> None:
        if error.name() not in self._errors_seen:
            self._errors_seen.add(error.name())
            event(log, "kafka_error", logging.WARNING, error=error.name(), detail=error.str())

    async def _learn_record_limit(self, topic: str) -> None:
        """Lower the record limit to the topic's max.message.bytes, if the broker says it (real
        Kafka does; the embedded broker answers no configs). Asked until it answers, at most
        LIMIT_ATTEMPTS times; librdkafka's MSG_SIZE_TOO_LARGE stays mapped if it never does."""
        config = {k: v for k, v in self._config.items() if k not in _PRODUCER_ONLY}
        self._limit_attempts += 1
        if self._limit_attempts >= LIMIT_ATTEMPTS:
            self._limit_topic = None
        try:
            limit = await asyncio.wait_for(
                asyncio.to_thread(topic_max_message_bytes, config, topic, self._check_interval_s),
                timeout=self._check_interval_s * 2 + 1,
            )
        except (KafkaException, TimeoutError, ValueError) as exc:
            event(log, "record_limit_unknown", logging.DEBUG, topic=topic, detail=str(exc))
            return
        self._limit_topic = None
        if limit is not None and limit - RECORD_OVERHEAD < self.record_limit:
            self.record_limit = limit - RECORD_OVERHEAD
            event(log, "record_limit_lowered", topic=topic, max_message_bytes=limit)

    async def _broker_answers(self) -> bool:
        timeout_s = self._check_interval_s * 2
        try:
            await asyncio.wait_for(
                asyncio.to_thread(self.producer.list_topics, None, timeout_s), timeout=timeout_s + 1
            )
        except (KafkaException, TimeoutError):
            return False
        return True

    async def publish(
        self,
        topic: str,
        records: Sequence[KeyValue],
        deadline_s: float,
        headers: Sequence[list[tuple[str, bytes]]] | None = None,
    ) -> None:
        """Return once Kafka acknowledged every record; raise BrokerUnavailable otherwise.
        `headers`: each record's Kafka headers (its `traceparent`), in the order of `records`."""
        producer = self.producer
        limit = self.record_limit
        for key, value in records:
            if len(key) + len(value) > limit:
                raise EventTooLarge(
                    f"an event's record is {len(key) + len(value)} bytes; "
                    f"the broker takes records of at most {limit} bytes"
                )
        loop = asyncio.get_running_loop()
        waiter = Waiter(loop.create_future())
        try:
            for i, (key, value) in enumerate(records):
                record_headers: Any = headers[i] if headers else None
                producer.produce(
                    topic, value, key, on_delivery=waiter.delivered, headers=record_headers
                )
                waiter.remaining += 1
        except BufferError:
            raise BrokerUnavailable("Kafka is not draining: the producer's queue is full") from None
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() == KafkaError.MSG_SIZE_TOO_LARGE:
                raise EventTooLarge(f"Kafka refused the record: {error.str()}") from None
            raise BrokerUnavailable(f"Kafka refused the record: {error.str()}") from None
        if waiter.remaining == 0:
            return
        self._serve_reports()
        timer = loop.call_later(deadline_s, self._expire, waiter, deadline_s)
        try:
            await waiter.future
        finally:
            timer.cancel()

    def _serve_reports(self) -> None:
        """Serve delivery reports now, and again shortly while records are outstanding."""
        self.producer.poll(0)
        self._schedule_poll()

    def _schedule_poll(self) -> None:
        if self._poll_timer is None and len(self.producer):
            self._poll_timer = asyncio.get_running_loop().call_later(
                self._poll_interval_s, self._poll_again
            )

    def _poll_again(self) -> None:
        # Only these timer polls count towards the back-off: the poll right after a produce
        # usually finds nothing, and when every request waits only the timer is left polling.
        self._poll_timer = None
        self._empty_polls = 0 if self.producer.poll(0) else self._empty_polls + 1
        self._poll_interval_s = next_poll_interval(self._poll_interval_s, self._empty_polls)
        self._schedule_poll()

    def _expire(self, waiter: Waiter, deadline_s: float) -> None:
        if not waiter.future.done():
            self.ready = False
            waiter.fail(BrokerUnavailable(f"Kafka did not acknowledge within {deadline_s:.1f}s"))


def topic_max_message_bytes(config: dict[str, Any], topic: str, timeout_s: float) -> int | None:
    """The topic's max.message.bytes as the broker reports it; None if it reports none."""
    admin = AdminClient(config)
    futures = admin.describe_configs([ConfigResource("topic", topic)], request_timeout=timeout_s)
    for future in futures.values():
        entry = future.result(timeout=timeout_s).get("max.message.bytes")
        if entry is not None and entry.value:
            return int(entry.value)
    return None


def next_poll_interval(interval_s: float, empty_polls: int) -> float:
    """The shortest interval until `PATIENT_POLLS` polls in a row found nothing, then twice as
    long each time (capped); back to the shortest as soon as one serves a report."""
    if empty_polls < PATIENT_POLLS:
        return POLL_INTERVAL_S
    return min(interval_s * 2, MAX_POLL_INTERVAL_S)
