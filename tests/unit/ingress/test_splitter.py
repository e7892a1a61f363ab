from __future__ import annotations

from typing import Any

import orjson
import pytest

from ingress.errors import MalformedBody
from ingress.splitter import parse_body, split
from schemas.envelope import decode_envelope
from tests.support.meta_samples import CHANGES, IG, INSTAGRAM, MESSENGER, PAGE, T_MS, T_S, USER

RECEIVED = 1_800_000_000_000


def body(obj: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": obj, "entry": entries}


@pytest.mark.parametrize(
    ("name", "event", "kind", "user"), MESSENGER, ids=[s[0] for s in MESSENGER]
)
def test_every_messenger_kind_is_split_keyed_and_classified(
    name: str, event: dict[str, Any], kind: str, user: str
) -> None:
    [record] = split(
        body("page", [{"id": PAGE, "time": T_MS, "messaging": [event]}]), RECEIVED, "r"
    )
    envelope = decode_envelope(record.value)
    assert (envelope.kind, envelope.user_id, envelope.page_id) == (kind, user, PAGE)
    assert record.key == f"{PAGE}:{user}".encode() == envelope.conversation_id.encode()
    assert envelope.platform == "messenger" and envelope.source == "messaging"
    assert envelope.raw == event
    assert envelope.event_time_ms == T_MS


@pytest.mark.parametrize(
    ("name", "event", "kind", "user"), INSTAGRAM, ids=[s[0] for s in INSTAGRAM]
)
def test_every_instagram_kind_is_split_keyed_and_classified(
    name: str, event: dict[str, Any], kind: str, user: str
) -> None:
    [record] = split(
        body("instagram", [{"id": IG, "time": T_MS, "messaging": [event]}]), RECEIVED, "r"
    )
    envelope = decode_envelope(record.value)
    assert (envelope.kind, envelope.user_id, envelope.page_id) == (kind, user, IG)
    assert envelope.platform == "instagram"
    assert record.key == f"{IG}:{user}".encode()


@pytest.mark.parametrize(
    ("obj", "field", "value", "kind", "user"),
    CHANGES,
    ids=[f"{c[0]}-{c[1]}-{c[3]}" for c in CHANGES],
)
def test_changes_are_split_with_seconds_normalized_to_ms(
    obj: str, field: str, value: dict[str, Any], kind: str, user: str
) -> None:
    entry = {"id": PAGE, "time": T_S, "changes": [{"field": field, "value": value}]}
    [record] = split(body(obj, [entry]), RECEIVED, "r")
    envelope = decode_envelope(record.value)
    assert (envelope.kind, envelope.user_id, envelope.source) == (kind, user, "changes")
    assert envelope.event_time_ms == T_S * 1000
    assert envelope.raw == {"field": field, "value": value}


def test_instagram_login_messages_in_changes_are_classified_as_messages() -> None:
    value = {
        "sender": {"id": "9"},
        "recipient": {"id": IG},
        "timestamp": T_MS,
        "message": {"mid": "x1", "text": "hi"},
    }
    entry = {"id": IG, "time": T_MS, "changes": [{"field": "messages", "value": value}]}
    [record] = split(body("instagram", [entry]), RECEIVED, "r")
    envelope = decode_envelope(record.value)
    assert (envelope.kind, envelope.user_id, envelope.event_id) == ("message", "9", "message:x1")


def test_a_batch_of_many_pages_entries_and_lists_gives_one_record_per_event() -> None:
    events = [event for _, event, _, _ in MESSENGER[:5]]
    entries = [
        {"id": PAGE, "time": T_MS, "messaging": events[:3]},
        {"id": "1002", "time": T_MS, "messaging": events[3:], "standby": events[:1]},
        {"id": "1003", "time": T_S, "changes": [{"field": "feed", "value": CHANGES[3][2]}]},
    ]
    records = split(body("page", entries), RECEIVED, "req-1")
    envelopes = [decode_envelope(r.value) for r in records]
    assert len(records) == 7
    assert [e.page_id for e in envelopes] == [PAGE] * 3 + ["1002"] * 3 + ["1003"]
    assert [e.source for e in envelopes][3:6] == ["messaging", "messaging", "standby"]
    assert {e.request_id for e in envelopes} == {"req-1"}
    assert {e.received_at_ms for e in envelopes} == {RECEIVED}


def test_numeric_ids_are_accepted_like_strings() -> None:
    numeric = {
        "sender": {"id": 2002},
        "recipient": {"id": 1001},
        "timestamp": T_MS,
        "message": {"mid": "m1", "text": "x"},
    }
    [record] = split(body("page", [{"id": 1001, "time": T_MS, "messaging": [numeric]}]), 0, "r")
    assert record.key == b"1001:2002"


def test_redelivered_event_gets_the_same_event_id() -> None:
    data = body("page", [{"id": PAGE, "time": T_MS, "messaging": [MESSENGER[0][1]]}])
    first = decode_envelope(split(data, 1, "a")[0].value)
    again = decode_envelope(split(orjson.loads(orjson.dumps(data)), 2, "b")[0].value)
    assert first.event_id == again.event_id == "message:m_text"


def test_distinct_events_without_natural_id_get_distinct_ids() -> None:
    one = {
        "sender": {"id": USER},
        "recipient": {"id": PAGE},
        "timestamp": 1,
        "referral": {"ref": "a"},
    }
    two = {**one, "timestamp": 2}
    records = split(body("page", [{"id": PAGE, "messaging": [one, two, one]}]), 1, "r")
    ids = [decode_envelope(r.value).event_id for r in records]
    assert ids[0] != ids[1] and ids[0] == ids[2]


def test_dashboard_test_button_events_are_tagged() -> None:
    entry = {"id": "0", "time": T_S, "changes": [{"field": "feed", "value": CHANGES[5][2]}]}
    [record] = split(body("page", [entry]), RECEIVED, "r")
    assert decode_envelope(record.value).test is True
    [real] = split(body("page", [{"id": PAGE, "messaging": [MESSENGER[0][1]]}]), RECEIVED, "r")
    assert decode_envelope(real.value).test is False


@pytest.mark.parametrize(
    "entry",
    [
        {"id": PAGE, "time": T_MS},  # no list at all
        {"id": PAGE, "messaging": ["not an object"]},  # an item that is not an object
        "an entry that is not an object",
    ],
)
def test_shapes_that_cannot_be_classified_still_go_through_as_unknown(entry: Any) -> None:
    [record] = split(body("page", [entry]), RECEIVED, "r")
    envelope = decode_envelope(record.value)
    assert envelope.kind == "unknown"
    assert envelope.event_time_ms > 0


def test_missing_timestamp_falls_back_to_entry_time_then_received_time() -> None:
    event = {"sender": {"id": USER}, "recipient": {"id": PAGE}, "message": {"mid": "x"}}
    with_entry = split(body("page", [{"id": PAGE, "time": T_S, "messaging": [event]}]), 5, "r")
    assert decode_envelope(with_entry[0].value).event_time_ms == T_S * 1000
    without = split(body("page", [{"id": PAGE, "messaging": [event]}]), 5, "r")
    assert decode_envelope(without[0].value).event_time_ms == 5


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"object": "page"}', "'entry' array"),
        (b'{"object": "page", "entry": {}}', "'entry' array"),
        (b"", "not valid JSON"),
    ],
)
def test_malformed_bodies_are_rejected_with_the_problem_named(raw: bytes, problem: str) -> None:
    with pytest.raises(MalformedBody, match=problem):
        parse_body(raw)
