"""No analytics record can stop the sink: anything decodes to a row or a dead letter."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookstream.runtime.consumer import Consumed
from schemas.analytics import FACT_TYPES
from schemas.dlq import MAX_DEAD_LETTER_BYTES, decode_dead_letter
from sinks.batch import Batch
from sinks.deadletters import dead_letters_for
from sinks.decode import add_records

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner)
    ),
    max_leaves=8,
)


@st.composite
def facts(draw: st.DrawFn) -> dict[str, Any]:
    """A fact of a real kind with any subset of its fields, each of any JSON value."""
    kind = draw(st.sampled_from(sorted(FACT_TYPES)))
    names = [f.name for f in dataclasses.fields(FACT_TYPES[kind])]
    data = {name: draw(json_values) for name in draw(st.lists(st.sampled_from(names)))}
    return {**data, "fact": kind, "schema_version": draw(st.sampled_from([1, 1, 2, "1"]))}


payloads = st.one_of(
    facts().map(orjson.dumps), json_values.map(orjson.dumps), st.binary(max_size=40), st.none()
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(payloads, min_size=1, max_size=8))
def test_any_record_becomes_a_row_or_a_dead_letter(values: list[bytes | None]) -> None:
    records = [Consumed("p.analytics", 0, i, None, v) for i, v in enumerate(values)]
    batch = Batch()
    add_records(batch, records, 0.0)
    stored = sum(len(rows.values) for rows in batch.tables.values())
    assert stored + len(batch.malformed) <= len(records)  # repeated fact ids count once
    assert len(batch) == len(records)  # each covered (committed once written)
    assert batch.ranges == {("p.analytics", 0): (0, len(records) - 1)}
    letters, _ = dead_letters_for(batch.malformed, [], 0)
    for _, value, _ in letters:
        decode_dead_letter(value)


def test_a_dead_letter_of_a_huge_record_still_fits_the_dlq_topic() -> None:
    huge = Consumed("p.analytics", 0, 5, b"k", b"\x01" * MAX_DEAD_LETTER_BYTES)
    batch = Batch()
    add_records(batch, [huge], 0.0)
    [(_, value, _)], _ = dead_letters_for(batch.malformed, [], 0)
    letter = decode_dead_letter(value)
    assert len(value) <= MAX_DEAD_LETTER_BYTES and letter.original_truncated
    assert letter.reason == "invalid_analytics_fact" and letter.source_offset == 5
