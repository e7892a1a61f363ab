"""Pure: one consumed Kafka record -> a row in the batch, or a malformed item for the dlq."""

from __future__ import annotations

from typing import Protocol

from schemas.analytics import decode_fact
from schemas.errors import SchemaError
from sinks.batch import Batch, Malformed, Source
from sinks.rows import row_for


class ConsumedRecord(Protocol):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def add_record(batch: Batch, record: ConsumedRecord, now: float) -> None:
    source = Source(record.topic, record.partition, record.offset, record.key, record.value)
    try:
        fact = decode_fact(record.value)
    except SchemaError as exc:
        batch.add_malformed(Malformed(source, "invalid_analytics_fact", str(exc)), now)
        return
    batch.add_row(row_for(fact), source, now)
