"""Pure: one consumed Kafka record -> a row in the batch, or a malformed item for the dlq.

`fast_decode_fact` accepts and refuses exactly what `schemas.analytics.decode_fact` does (same
version check, required fields, field types, bool never passing for int), with the per-class
field checks compiled once: the generic decoder is the sink's hottest path (see bench/sink).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Protocol

from schemas.analytics import ANALYTICS_SCHEMA_VERSION, FACT_TYPES, Fact
from schemas.errors import SchemaError
from schemas.records import _field_types, load_json_object
from sinks.batch import Batch, Malformed, Source
from sinks.rows import row_for

FieldCheck = tuple[str, tuple[type, ...], bool, bool]  # name, types, bool allowed, required


class ConsumedRecord(Protocol):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@functools.cache
def _checks(cls: type) -> tuple[FieldCheck, ...]:
    accepted = _field_types(cls)
    checks = []
    for f in dataclasses.fields(cls):
        types = accepted[f.name]
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        checks.append((f.name, types, bool in types, required))
    return tuple(checks)


def fast_decode_fact(payload: bytes | None) -> Fact:
    data = load_json_object(payload, "analytics")
    kind = data.get("fact")
    cls = FACT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise SchemaError(f"unknown analytics fact {kind!r}")
    what = f"{kind} fact"
    if data.get("schema_version") != ANALYTICS_SCHEMA_VERSION:
        raise SchemaError(f"unsupported {what} schema_version {data.get('schema_version')!r}")
    values = {}
    for name, types, bool_ok, required in _checks(cls):  # type: ignore[arg-type]
        if name in data:
            value = data[name]
            if (value is True or value is False) and not bool_ok:
                raise SchemaError(f"{what} field {name!r} has the wrong type (bool)")
            if not isinstance(value, types):
                raise SchemaError(f"{what} field {name!r} has the wrong type "
                                  f"({type(value).__name__})")
            values[name] = value
        elif required:
            raise SchemaError(f"{what} field {name!r} is missing")
    try:
        fact: Fact = cls(**values)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"invalid {what}: {exc}") from None
    return fact


def add_record(batch: Batch, record: ConsumedRecord, now: float) -> None:
    source = Source(record.topic, record.partition, record.offset, record.key, record.value)
    try:
        fact = fast_decode_fact(record.value)
    except SchemaError as exc:
        batch.add_malformed(Malformed(source, "invalid_analytics_fact", str(exc)), now)
        return
    batch.add_row(row_for(fact), source, now)
