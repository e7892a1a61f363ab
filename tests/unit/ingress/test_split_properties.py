"""parse_body + split over arbitrary bodies (issue 11): nothing raises but the defined
rejections, and every record written decodes back to the event exactly as sent."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookstream.runtime.settings import IngressSettings
from ingress.errors import EventRejected, IngressError, MalformedBody, TooManyEvents
from ingress.splitter import MAX_EVENTS, parse_body, shallow, split
from schemas.envelope import MAX_RAW_DEPTH, decode_envelope

MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
DEFINED = (EventRejected, MalformedBody, TooManyEvents)

# Numbers as a body can spell them, parsed by orjson: huge, tiny, negative, fractional.
NUMBERS = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e20, 1e300, 18446744073709551616, -1, 0, 1.5, 2**63, 2**64 - 1])
)
TIME_TEXT = st.sampled_from(
    ["nan", "NaN", "Infinity", "-Infinity", "1e400", "1e25", "", " ", "2026-13-45", "0001-01-01"]
) | st.text(max_size=12)
SCALARS = st.none() | st.booleans() | NUMBERS | st.text(max_size=12) | TIME_TEXT
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "sender",
        "recipient",
        "timestamp",
        "message",
        "read",
        "delivery",
        "reaction",
        "postback",
        "optin",
        "message_edit",
        "field",
        "value",
        "id",
        "mid",
        "watermark",
        "time",
        "created_time",
        "is_echo",
    ]
) | st.text(max_size=6)
# Event-like objects: Meta's keys with arbitrary values, nested a little.
EVENTS = st.recursive(
    st.dictionaries(KEYS, VALUES, max_size=6),
    lambda inner: st.dictionaries(KEYS, inner | VALUES, max_size=4),
    max_leaves=6,
)
ENTRIES = (
    st.dictionaries(
        st.sampled_from(["id", "time", "messaging", "standby", "changes"]) | st.text(max_size=5),
        st.lists(EVENTS | VALUES, max_size=3) | VALUES,
        max_size=4,
    )
    | VALUES
)
BODIES = st.fixed_dictionaries(
    {"entry": st.lists(ENTRIES, max_size=3)},
    optional={"object": st.sampled_from(["page", "instagram", "user"]) | VALUES},
)


def _split(raw: bytes) -> list[Any]:
    return split(parse_body(raw), 1_700_000_000_000, "r", depth_checked=shallow(raw))


@PROPERTY
@given(BODIES)
def test_any_body_splits_into_records_that_keep_each_event_as_sent(body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()  # any integer, any float; non-ASCII escaped, as Meta does
    try:
        records = _split(raw)
    except DEFINED:
        return
    parsed = orjson.loads(raw)
    for record in records:
        envelope = decode_envelope(record.value)
        assert record.key == envelope.conversation_id.encode()
        assert 0 < envelope.event_time_ms <= MAX_EPOCH_MS
        assert isinstance(envelope.raw, dict)
    sent = [item for entry in parsed["entry"] for item in _items(entry)]
    assert [decode_envelope(r.value).raw for r in records] == sent


def _items(entry: Any) -> list[Any]:
    if not isinstance(entry, dict):
        return [{"value": entry}]
    items = [
        item if isinstance(item, dict) else {"value": item}
        for source in ("messaging", "standby", "changes")
        if isinstance(entry.get(source), list)
        for item in entry[source]
    ]
    found = any(
        isinstance(entry.get(s), list) and entry[s] for s in ("messaging", "standby", "changes")
    )
    return items if found else [entry]


@PROPERTY
@given(st.binary(max_size=300))
def test_any_bytes_are_parsed_or_refused_by_name(raw: bytes) -> None:
    try:
        _split(raw)
    except DEFINED:
        pass


@PROPERTY
@given(
    depth=st.integers(min_value=1, max_value=1100),
    where=st.sampled_from(["message", "read", "value", "sender"]),
)
def test_nesting_of_any_depth_is_taken_or_refused_as_too_deeply_nested(
    depth: int, where: str
) -> None:
    nested = "[" * depth + "1" + "]" * depth
    raw = (
        '{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"u"},'
        f'"recipient":{{"id":"1"}},"{where}":{nested}}}]}}]}}'
    ).encode()
    try:
        [record] = _split(raw)
    except EventRejected as exc:
        assert exc.reason == "too_deeply_nested"
        assert depth + 1 > MAX_RAW_DEPTH
        return
    assert depth + 1 <= MAX_RAW_DEPTH
    assert decode_envelope(record.value).raw == orjson.loads(raw)["entry"][0]["messaging"][0]


def test_shallow_is_a_safe_bound() -> None:
    assert shallow(b'{"entry":[{"messaging":[{"a":{"b":[1]}}]}]}')
    assert not shallow(b"[" * MAX_RAW_DEPTH)
    # brackets inside strings only make it walk: never wrong, only slower
    assert not shallow(b'{"t":"' + b"[" * MAX_RAW_DEPTH + b'"}')


def test_more_events_than_the_limit_are_refused() -> None:
    body = {"object": "page", "entry": [{"id": "1", "messaging": [{}] * 30}, {"id": "2"}]}
    with pytest.raises(TooManyEvents, match="more than 30 events"):
        split(body, 1, "r", max_events=30)
    assert len(split(body, 1, "r", max_events=31)) == 31
    assert IngressSettings().max_events == MAX_EVENTS == 10_000


def test_rejections_are_ingress_errors_with_a_status_below_500() -> None:
    for cls in DEFINED:
        assert issubclass(cls, IngressError)
        assert 400 <= cls.status_code < 500
