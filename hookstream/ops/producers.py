"""Producers for the operator tools, started with the broker's capabilities in mind.

The embedded Tansu broker answers InitProducerId with UnknownError, so an idempotent producer
cannot start against it. `hookstream up` records what its broker can do (the stack file); a tool
run elsewhere with idempotence on gets one clear sentence instead of a traceback.
"""

from __future__ import annotations

import contextlib

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError

from hookstream.ops.errors import OpsError
from hookstream.runtime.kafka import new_producer
from hookstream.runtime.settings import KafkaSettings


class NoIdempotence(OpsError):
    """The broker cannot give an idempotent producer its id (the embedded broker)."""


def no_idempotence_message(settings: KafkaSettings, exc: BaseException) -> str:
    return (
        f"the broker at {settings.bootstrap_servers} cannot do idempotent producers "
        f"(InitProducerId failed: {type(exc).__name__}; the embedded broker cannot); "
        "run the tool beside `hookstream up`, which records what its broker can do, "
        "or set KAFKA_ENABLE_IDEMPOTENCE=false"
    )


async def start_producer(settings: KafkaSettings) -> AIOKafkaProducer:
    """A started producer (acks=all, idempotence as configured, no linger)."""
    producer = new_producer(settings, linger_ms=0)
    try:
        await producer.start()
    except KafkaError as exc:
        with contextlib.suppress(Exception):
            await producer.stop()
        if settings.enable_idempotence and not isinstance(exc, KafkaConnectionError):
            raise NoIdempotence(no_idempotence_message(settings, exc)) from exc
        raise
    return producer
