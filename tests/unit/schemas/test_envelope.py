from __future__ import annotations

import orjson
import pytest

from schemas.envelope import ENVELOPE_SCHEMA_VERSION, InboundEnvelope, decode_envelope
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
