from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.envelope import (
    ENVELOPE_SCHEMA_VERSION,
    MAX_RAW_DEPTH,
    EnvelopeRejected,
    InboundEnvelope,
    TooDeeplyNested,
    UnrepresentableNumber,
    decode_envelope,
    encode_envelope,
    raw_depth_exceeds,
)
from schemas.errors import SchemaError
from schemas.jsonschema import ENVELOPE_SCHEMA_PATH, envelope_json_schema, render


def sample() -> InboundEnvelope:
    return InboundEnvelope(
        schema_version=ENVELOPE_SCHEMA_VERSION,
        event_id="message:m1",
        received_at_ms=2,
        platform="messenger",
        object="page",
        page_id="1",
        user_id="2",
        conversation_id="1:2",
        kind="message",
        source="messaging",
        event_time_ms=1,
        test=False,
        request_id="r",
        raw={"message": {"mid": "m1", "text": "h\u00e4"}},
    )


def test_round_trip() -> None:
    assert decode_envelope(sample().encode()) == sample()


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda d: d.pop("event_id"), "'event_id' is missing"),
        (lambda d: d.update(schema_version=99), "unsupported envelope schema_version 99"),
        (lambda d: d.update(event_time_ms="soon"), "'event_time_ms' must be integer"),
        (lambda d: d.update(test="yes"), "'test' must be boolean"),
        (lambda d: d.update(raw=[1]), "'raw' must be object"),
        (lambda d: d.update(received_at_ms=True), "'received_at_ms' must be integer"),
    ],
)
def test_invalid_envelopes_name_the_problem(mutate, problem) -> None:  # type: ignore[no-untyped-def]
    data = orjson.loads(sample().encode())
    mutate(data)
    with pytest.raises(SchemaError, match=problem):
        decode_envelope(orjson.dumps(data))


@pytest.mark.parametrize("payload", [None, b"", b"{", b"[]", b"null"])
def test_undecodable_records_raise_schema_error(payload: bytes | None) -> None:
    with pytest.raises(SchemaError):
        decode_envelope(payload)


def test_committed_json_schema_is_generated_from_the_dataclass() -> None:
    assert ENVELOPE_SCHEMA_PATH.read_bytes() == render(envelope_json_schema()), (
        "schemas/json is stale: run `make schema`"
    )


def test_json_schema_describes_every_field_of_an_encoded_envelope() -> None:
    schema = envelope_json_schema()
    encoded = orjson.loads(sample().encode())
    assert set(schema["required"]) == set(encoded)
    kinds = {"integer": int, "string": str, "boolean": bool, "object": dict}
    for name, value in encoded.items():
        assert isinstance(value, kinds[schema["properties"][name]["type"]])


# --- encoding is total (issue 11): bytes that decode back, or a defined rejection ------------

# What orjson.loads can return: integers in [-2^63, 2^64), finite floats, text without lone
# surrogates, nested at most a few levels here (depth has its own tests below).
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)  # hypothesis's default alphabet has no surrogates
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=15,
)
# Anything a Python caller could hand over: also ints beyond 64 bits, NaN, lone surrogates,
# non-string keys, tuples, sets, objects.
ANY_VALUES = st.recursive(
    JSON_SCALARS
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.binary(max_size=5)
    | st.builds(object),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.frozensets(st.integers(), max_size=2)
        | st.dictionaries(st.integers() | st.text(max_size=3) | st.none(), inner, max_size=3)
    ),
    max_leaves=15,
)


# Generation is slow on a loaded machine: no health check may fail a run for that.
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the tree
    suppress_health_check=[HealthCheck.too_slow],
)


def deep(levels: int) -> dict[str, Any]:
    """A raw event nesting `levels` levels (the event object itself is level 1)."""
    value: Any = 1
    for _ in range(levels - 1):
        value = [value]
    return {"x": value}


@PROPERTY
@given(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5))
def test_any_json_event_encodes_and_decodes_to_itself(raw: dict[str, Any]) -> None:
    envelope = replace(sample(), raw=raw)
    assert decode_envelope(envelope.encode()).raw == raw


@PROPERTY
@given(
    raw=st.dictionaries(st.text(max_size=4) | st.integers(), ANY_VALUES, max_size=4),
    number=st.integers() | st.booleans() | st.text(max_size=3),
)
def test_encoding_raises_nothing_but_the_defined_rejection(
    raw: dict[Any, Any], number: Any
) -> None:
    for envelope in (replace(sample(), raw=raw), replace(sample(), event_time_ms=number)):
        try:
            payload = envelope.encode()
        except EnvelopeRejected as exc:
            assert exc.reason in ("too_deeply_nested", "unparseable_number", "unencodable_event")
            continue
        decoded = decode_envelope(payload)  # what encode produced always decodes
        assert decoded.event_id == envelope.event_id


@PROPERTY
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_decoding_raises_nothing_but_schema_errors(payload: bytes) -> None:
    try:
        decode_envelope(payload)
    except SchemaError:
        pass


@pytest.mark.parametrize("levels", [MAX_RAW_DEPTH + 1, 254, 255, 600, 1020, 5000])
def test_an_event_nested_deeper_than_the_limit_is_rejected_by_name(levels: int) -> None:
    with pytest.raises(TooDeeplyNested, match="deeper than 128"):
        replace(sample(), raw=deep(levels)).encode()


def test_an_event_at_the_depth_limit_encodes_and_decodes() -> None:
    raw = deep(MAX_RAW_DEPTH)
    assert not raw_depth_exceeds(raw)
    assert decode_envelope(replace(sample(), raw=raw).encode()).raw == raw


def test_encode_names_numbers_and_values_it_cannot_carry() -> None:
    with pytest.raises(UnrepresentableNumber, match="beyond 64 bits"):
        replace(sample(), raw={"n": 2**64}).encode()
    with pytest.raises(EnvelopeRejected, match="'event_time_ms' must be integer"):
        replace(sample(), event_time_ms=1e20).encode()  # type: ignore[arg-type]
    with pytest.raises(EnvelopeRejected, match="cannot be encoded"):
        replace(sample(), raw={"s": "\ud800"}).encode()
    # The hot-path encoder, given the depth was checked, still names orjson's own limit.
    fields = {**sample().to_dict(), "raw": deep(300)}
    with pytest.raises(TooDeeplyNested, match="too deeply"):
        encode_envelope(fields, depth_checked=True)


def test_a_non_finite_float_is_written_as_null() -> None:
    envelope = replace(sample(), raw={"f": float("nan"), "g": float("inf")})
    assert decode_envelope(envelope.encode()).raw == {"f": None, "g": None}
