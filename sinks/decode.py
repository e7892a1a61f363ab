"""Pure: one consumed Kafka record -> a row in the batch, or a malformed item for the dlq.

`decode_row` accepts and refuses exactly what `schemas.analytics.decode_fact` does (same version
check, required fields, field types, bool never passing for int) and maps the fact to its row
(sinks/rows.py). It is the sink's hottest path (see bench/sink), so the usual record is handled
in a few C calls: every field pulled out of the JSON object at once, their exact types compared
as one tuple (orjson yields exact str/int/bool/list, so that equals the isinstance checks), and
the row built from that tuple. Anything else (a missing field, a wrong type, an old version)
takes `checked_fact`, the field-by-field path that names the problem.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from hookstream.runtime.consumer import Consumed
from schemas.analytics import ANALYTICS_SCHEMA_VERSION, FACT_TYPES, Fact
from schemas.errors import SchemaError
from schemas.records import _field_types, load_json_object
from sinks.batch import Batch, Malformed
from sinks.rows import FIELDS, MAPPINGS, Mapper, Row, Values, row_for

FieldCheck = tuple[str, tuple[type, ...], bool, bool]  # name, types, bool allowed, required


@dataclasses.dataclass(frozen=True, slots=True)
class Layout:
    """How one fact kind is read on the fast path."""

    table: str
    fields: Callable[[dict[str, Any]], Values]  # every field, in dataclass order
    types: tuple[type, ...] | None  # the exact type of each; None: no fast path
    mapper: Mapper


def _exact_types(cls: type) -> tuple[type, ...] | None:
    accepted = _field_types(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    if any(len(accepted[name]) != 1 for name in names):
        return None
    return tuple(accepted[name][0] for name in names)


LAYOUTS = {
    kind: Layout(MAPPINGS[kind][0], itemgetter(*FIELDS[kind]), _exact_types(cls), MAPPINGS[kind][1])
    for kind, cls in FACT_TYPES.items()
}


@functools.cache
def _checks(cls: type) -> tuple[FieldCheck, ...]:
    accepted = _field_types(cls)
    checks = []
    for f in dataclasses.fields(cls):
        types = accepted[f.name]
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        checks.append((f.name, types, bool in types, required))
    return tuple(checks)


def checked_fact(data: dict[str, Any]) -> Fact:
    """The field-by-field decoder: the fact, or a SchemaError naming what is wrong."""
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
                raise SchemaError(
                    f"{what} field {name!r} has the wrong type ({type(value).__name__})"
                )
            values[name] = value
        elif required:
            raise SchemaError(f"{what} field {name!r} is missing")
    try:
        fact: Fact = cls(**values)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"invalid {what}: {exc}") from None
    return fact


def decode_row(payload: bytes | None) -> tuple[str, Values]:
    """(table, row) for one analytics record; SchemaError if it is not a valid fact."""
    data = load_json_object(payload, "analytics")
    kind = data.get("fact")
    layout = LAYOUTS.get(kind) if type(kind) is str else None
    if layout is not None and layout.types is not None:
        try:
            fields = layout.fields(data)
        except KeyError:  # a field left out: defaults and errors are the slow path's
            pass
        else:
            if tuple(map(type, fields)) == layout.types and (
                data["schema_version"] == ANALYTICS_SCHEMA_VERSION
            ):
                return layout.table, layout.mapper(fields)
    row: Row = row_for(checked_fact(data))
    return row


def add_records(batch: Batch, records: Sequence[Consumed], now: float) -> None:
    """Records of one partition, in offset order: rows into the batch, the malformed aside."""
    if not records:
        return
    first, last = records[0], records[-1]
    batch.cover(first.topic, first.partition, first.offset, last.offset, len(records), now)
    put = batch.put
    for record in records:
        try:
            table, values = decode_row(record.value)
        except SchemaError as exc:
            batch.malformed.append(Malformed(record, "invalid_analytics_fact", str(exc)[:1000]))
            continue
        except Exception as exc:  # noqa: BLE001 - a bug on one record never stops the sink
            error = f"{type(exc).__name__}: {exc}"[:1000]
            batch.malformed.append(Malformed(record, "decode_failed", error))
            continue
        put(table, values, record)


def add_record(batch: Batch, record: Consumed, now: float) -> None:
    add_records(batch, (record,), now)
