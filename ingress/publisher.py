"""Writes records to Kafka and says when they are durable (acks=all), within a deadline.

The producer is librdkafka (confluent-kafka): batching, request encoding and the network run in
its own C threads, so concurrent webhooks share produce requests without costing the event loop
Python work per batch (with aiokafka that path was a third of the ingress's CPU). Delivery reports
are served by `poll(0)` on the event loop itself, after each publish and every `POLL_INTERVAL_S`
while records are outstanding: no poll thread, so no GIL hand-offs and no cross-thread wakeups.

Also owns readiness: a background check asks the broker for metadata every interval, so `/readyz`
turns 503 while the broker is unreachable and back to 200 when it answers, without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from hookstream.runtime.errors import BrokerUnavailable
from hookstream.runtime.kafka import librdkafka_config
from hookstream.runtime.logging import event, get_logger
from hookstream.runtime.settings import KafkaSettings

log = get_logger("ingress.publisher")

KeyValue = tuple[bytes, bytes]
# Delivery reports are polled every 0.5 ms while records are outstanding. A healthy broker
# acknowledges within a few ms; after 20 polls in a row found nothing (a slow or stalled broker)
# the interval doubles up to 16 ms, so waiting on it costs no CPU.
POLL_INTERVAL_S = 0.0005
MAX_POLL_INTERVAL_S = 0.016
PATIENT_POLLS = 20


@dataclass(eq=False)
class Waiter:
    """One request: its future, and how many of its records are not acknowledged yet."""

    future: asyncio.Future[None]
    remaining: int = 0

    def fail(self, error: BrokerUnavailable) -> None:
        if not self.future.done():
            self.future.set_exception(error)

    def delivered(self, error: KafkaError | None, _message: Message) -> None:
        """librdkafka's delivery report for one of this request's records."""
        if error is not None:
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
    ) -> None:
        # librdkafka's own log lines repeat every reconnect; its errors come through error_cb,
        # logged once per kind until the broker answers again.
        self._config = {
            **librdkafka_config(settings, linger_ms),
            "log_level": 0,
            "error_cb": self._on_error,
        }
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
            self.ready = healthy
            self.producer.poll(0)  # error callbacks, also while no webhook arrives
            await asyncio.sleep(self._check_interval_s)

    def _on_error(self, error: KafkaError) -> None:
        if error.name() not in self._errors_seen:
            self._errors_seen.add(error.name())
            event(log, "kafka_error", logging.WARNING, error=error.name(), detail=error.str())

    async def _broker_answers(self) -> bool:
        timeout_s = self._check_interval_s * 2
        try:
            await asyncio.wait_for(
                asyncio.to_thread(self.producer.list_topics, None, timeout_s), timeout=timeout_s + 1
            )
        except (KafkaException, TimeoutError):
            return False
        return True

    async def publish(self, topic: str, records: Sequence[KeyValue], deadline_s: float) -> None:
        """Return once Kafka acknowledged every record; raise BrokerUnavailable otherwise."""
        producer = self.producer
        loop = asyncio.get_running_loop()
        waiter = Waiter(loop.create_future())
        try:
            for key, value in records:
                producer.produce(topic, value, key, on_delivery=waiter.delivered)
                waiter.remaining += 1
        except BufferError:
            raise BrokerUnavailable("Kafka is not draining: the producer's queue is full") from None
        except KafkaException as exc:
            raise BrokerUnavailable(f"Kafka refused the record: {exc.args[0].str()}") from None
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


def next_poll_interval(interval_s: float, empty_polls: int) -> float:
    """The shortest interval until `PATIENT_POLLS` polls in a row found nothing, then twice as
    long each time (capped); back to the shortest as soon as one serves a report."""
    if empty_polls < PATIENT_POLLS:
        return POLL_INTERVAL_S
    return min(interval_s * 2, MAX_POLL_INTERVAL_S)
