"""Property tests: arbitrary JSON events through the processors' normalize/state/encode path.

Nothing raises but the defined rejections (UnknownShape and its NoUser, InvalidEnvelope), and a
batch never raises at all: every record is answered, recorded or dead-lettered with a defined
reason, and every state it leaves encodes and reads back.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookstream.runtime.settings import ProcessorSettings
from processors.batch import BatchProcessor, InRecord
from processors.core import Processor
from processors.errors import InvalidEnvelope, UnknownShape
from processors.metrics import ProcessorMetrics
from processors.normalize import normalize
from processors.state import ConversationState, apply_message, decode_state
from schemas.analytics import decode_fact
from schemas.commands import decode_command
from schemas.dlq import decode_dead_letter
from schemas.envelope import ENVELOPE_SCHEMA_VERSION, InboundEnvelope
from schemas.events import MESSAGING_KEYS as KEYS
from schemas.events import identify_change, identify_messaging, platform_of
from schemas.timestamps import MAX_EPOCH_MS
from tests.support.processors_unit import PAGE, T0, pages

DEFINED_REASONS = {"invalid_envelope", "unknown_shape", "no_user"}
FIELDS = (
    "mid",
    "text",
    "watermark",
    "mids",
    "attachments",
    "payload",
    "title",
    "is_echo",
    "is_deleted",
    "quick_reply",
    "reply_to",
    "referral",
    "num_edit",
    "action",
    "emoji",
    "reaction",
    "coordinates",
    "lat",
    "long",
    "type",
    "url",
    "id",
)
numbers = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e300, -1e300, 1e20, 2**64 - 1, 0, -1, 10**11, 1_700_000_000]),
)
texts = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        ["1e25", "1e400", "nan", "NaN", "Infinity", "-inf", "_", "", " ", "2023-11-14"]
    ),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=5)), inner, max_size=5),
    ),
    max_leaves=10,
)
shaped = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6)
party = st.one_of(
    json_values,
    st.fixed_dictionaries({"id": st.one_of(json_values, st.sampled_from(["u1", PAGE]))}),
)
kind_parts = st.dictionaries(st.sampled_from(KEYS), st.one_of(shaped, json_values), max_size=2)
messaging_events = st.builds(
    lambda head, parts: {**head, **parts},
    st.fixed_dictionaries(
        {},
        optional={"sender": party, "recipient": party, "timestamp": st.one_of(numbers, texts)},
    ),
    kind_parts,
)
change_events = st.fixed_dictionaries(
    {"field": st.one_of(st.sampled_from(["feed", "comments", "messages", "mention"]), texts)},
    optional={"value": st.one_of(shaped, json_values)},
)


def envelope_of(obj: str, source: str, event: dict[str, Any]) -> InboundEnvelope:
    """What the ingress makes of one event (schemas.events, which the ingress uses too)."""
    if source == "changes":
        who = identify_change(obj, PAGE, event, T0)
    else:
        who = identify_messaging(PAGE, event)
    return InboundEnvelope(
        schema_version=ENVELOPE_SCHEMA_VERSION,
        event_id=who.event_id,
        received_at_ms=T0,
        platform=platform_of(obj, source),
        object=obj,
        page_id=who.page_id,
        user_id=who.user_id,
        conversation_id=who.conversation_id,
        kind=who.kind,
        source=source,
        event_time_ms=who.event_time_ms or T0,
        test=False,
        request_id="r",
        raw=event,
    )


events = st.one_of(
    st.tuples(st.sampled_from(["page", "instagram"]), st.just("messaging"), messaging_events),
    st.tuples(st.sampled_from(["page", "instagram"]), st.just("standby"), messaging_events),
    st.tuples(st.sampled_from(["page", "instagram"]), st.just("changes"), change_events),
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(events)
def test_normalize_and_state_never_raise_but_the_defined_rejections(
    item: tuple[str, str, dict[str, Any]],
) -> None:
    envelope = envelope_of(*item)
    try:
        message = normalize(envelope)
    except UnknownShape:  # NoUser included
        return
    assert 0 <= message.event_time_ms <= MAX_EPOCH_MS
    assert message.watermark_ms is None or 0 < message.watermark_ms <= MAX_EPOCH_MS
    state = apply_message(ConversationState(), message, history_size=5)
    assert decode_state(state.encode()) == decode_state(decode_state(state.encode()).encode())
    orjson.dumps(message.details)  # what normalize keeps can be encoded
    orjson.dumps(message.referral)


def record_of(offset: int, item: tuple[str, str, dict[str, Any]]) -> InRecord | None:
    envelope = envelope_of(*item)
    try:
        value = envelope.encode()
    except orjson.JSONEncodeError:  # the ingress refuses these bodies (400), never on inbound
        return None
    return InRecord("p.inbound", 0, offset, envelope.conversation_id.encode(), value)


@FAST
@given(st.lists(events, min_size=1, max_size=6), st.lists(st.binary(max_size=30), max_size=2))
def test_a_batch_of_anything_never_raises_and_accounts_for_every_record(
    items: list[tuple[str, str, dict[str, Any]]], garbage: list[bytes]
) -> None:
    records = [r for r in (record_of(i, item) for i, item in enumerate(items)) if r is not None]
    records += [InRecord("p.inbound", 1, i, None, g) for i, g in enumerate(garbage)]
    config = pages()
    batch = BatchProcessor(
        Processor(ProcessorSettings(), lambda: config), ProcessorMetrics.create()
    )
    result = asyncio.run(batch.run(records, lambda key: None, T0))
    letters = [decode_dead_letter(o.value) for o in result.outputs if o.topic == "dlq"]
    assert {d.reason for d in letters} <= DEFINED_REASONS
    for out in result.outputs:
        if out.topic == "outbound":
            command = decode_command(out.value)
            assert command.recipient_id not in ("", "_", PAGE)
        elif out.topic == "analytics":
            decode_fact(out.value)
    for encoded, _ in result.states.values():
        assert decode_state(encoded).encode() == encoded


@FAST
@given(json_values)
def test_any_stored_state_reads_as_a_usable_state(value: Any) -> None:
    for payload in (orjson.dumps(value), orjson.dumps({"v": 1, "history": value, "seen": value})):
        state = decode_state(payload)
        assert decode_state(state.encode()) == state


def test_the_rejections_are_the_defined_ones() -> None:
    assert issubclass(InvalidEnvelope, Exception) and "no_user" in DEFINED_REASONS
