"""Issue 11, items 1 and 7 at the pure core: no record stops a batch, nobody answers `_`."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from hookstream.runtime.settings import ProcessorSettings
from processors.batch import BatchProcessor, InRecord
from processors.core import Origin, Outcome, Processor
from processors.isolation import MAX_RECORD_BYTES, OutRecord, dead_letters, within_size
from processors.metrics import ProcessorMetrics
from processors.state import ConversationState, decode_state
from schemas.analytics import decode_fact
from schemas.commands import decode_command
from schemas.dlq import decode_dead_letter
from schemas.envelope import InboundEnvelope
from schemas.messages import NormalizedMessage
from tests.support.processors_unit import PAGE, T0, messaging, pages


def batch_processor(processor: Processor | None = None) -> BatchProcessor:
    config = pages()
    return BatchProcessor(
        processor or Processor(ProcessorSettings(), lambda: config), ProcessorMetrics.create()
    )


def record_of(offset: int, envelope: InboundEnvelope) -> InRecord:
    return InRecord("p.inbound", 0, offset, envelope.conversation_id.encode(), envelope.encode())


def text(offset: int, user: str = "u1") -> InRecord:
    event = {
        "sender": {"id": user},
        "recipient": {"id": PAGE},
        "timestamp": T0 + offset,
        "message": {"mid": f"m{offset}", "text": "price?"},
    }
    return record_of(offset, messaging(event))


def mark(kind: str, watermark: object, user: str = "u1") -> dict[str, Any]:
    return {"sender": {"id": user}, "recipient": {"id": PAGE}, kind: {"watermark": watermark}}


def topics(outputs: list[OutRecord]) -> list[str]:
    return [out.topic for out in outputs]


@pytest.mark.parametrize(
    ("kind", "watermark"),
    [("read", 1e300), ("delivery", "1e25"), ("read", "Infinity"), ("read", 18446744073709551615)],
)
async def test_an_out_of_range_watermark_is_dropped_and_the_next_record_answered(
    kind: str, watermark: object
) -> None:
    """The issue's body: `read.watermark` 1e300 made `state.encode()` raise outside the
    per-record handling and stopped the worker for good."""
    poison = record_of(0, messaging(mark(kind, watermark)))
    result = await batch_processor().run([poison, text(1)], lambda key: None, T0)
    assert "dlq" not in topics(result.outputs)  # understood, the watermark dropped
    commands = [decode_command(o.value) for o in result.outputs if o.topic == "outbound"]
    assert [c.cause_event_id for c in commands] == ["message:m1"]
    [(encoded, last)] = result.states.values()
    state = decode_state(encoded)
    watermark_ms = state.read_watermark_ms if kind == "read" else state.delivery_watermark_ms
    assert last.offset == 1 and watermark_ms == T0  # the event's own time instead


async def test_an_envelope_with_out_of_range_times_is_normalized_not_fatal() -> None:
    """An envelope written by an older ingress: times orjson reads but nothing can store."""
    envelope = messaging(mark("read", 5))
    data = {**envelope.to_dict(), "event_time_ms": 2**64 - 1, "received_at_ms": -(2**63)}
    poison = InRecord("p.inbound", 0, 0, b"1001:u1", orjson.dumps(data))
    result = await batch_processor().run([poison, text(1)], lambda key: None, T0)
    assert "dlq" not in topics(result.outputs) and "outbound" in topics(result.outputs)
    facts = [decode_fact(o.value) for o in result.outputs if o.topic == "analytics"]
    assert facts[0].event_time_ms == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "sender",
    [None, {}, {"id": ""}, {"id": "_"}, {"id": None}, {"id": {"x": 1}}, {"id": True}, {"id": 1.5}],
)
async def test_a_message_without_a_usable_sender_is_never_answered(sender: object) -> None:
    event: dict[str, Any] = {
        "recipient": {"id": PAGE},
        "timestamp": T0,
        "message": {"mid": "m-nobody", "text": "price?"},
    }
    if sender is not None:
        event["sender"] = sender
    nobody = record_of(0, messaging(event))
    result = await batch_processor().run([nobody, text(1)], lambda key: None, T0)
    commands = [decode_command(o.value) for o in result.outputs if o.topic == "outbound"]
    assert [c.recipient_id for c in commands] == ["u1"]
    [letter] = [decode_dead_letter(o.value) for o in result.outputs if o.topic == "dlq"]
    assert letter.reason == "no_user" and letter.original_bytes() == nobody.value
    facts = [decode_fact(o.value) for o in result.outputs if o.topic == "analytics"]
    assert ("dead_lettered", "no_user") in [(f.fact, getattr(f, "reason", "")) for f in facts]


async def test_a_postback_from_the_page_itself_is_not_answered() -> None:
    event = {"sender": {"id": PAGE}, "recipient": {"id": PAGE}, "postback": {"payload": "BUY"}}
    result = await batch_processor().run([record_of(0, messaging(event))], lambda k: None, T0)
    assert "outbound" not in topics(result.outputs)
    assert decode_dead_letter(result.outputs[0].value).reason == "no_user"


class Failing(Processor):
    """A processor with a bug on one text: whatever it raises stays with that record."""

    def __init__(self, error: Exception) -> None:
        config = pages()
        super().__init__(ProcessorSettings(), lambda: config)
        self.error = error

    async def process(
        self, state: ConversationState, message: NormalizedMessage, now_ms: int, *origin: Origin
    ) -> Outcome:
        if message.event_id == "message:m0":
            raise self.error
        return await super().process(state, message, now_ms, *origin)


@pytest.mark.parametrize("error", [TypeError("boom"), RecursionError(), MemoryError()])
async def test_an_exception_in_one_record_dead_letters_only_that_record(error: Exception) -> None:
    result = await batch_processor(Failing(error)).run([text(0), text(1)], lambda k: None, T0)
    [letter] = [decode_dead_letter(o.value) for o in result.outputs if o.topic == "dlq"]
    assert letter.source_offset == 0 and letter.reason == "processing_failed"
    assert type(error).__name__ in letter.error
    assert topics(result.outputs).count("outbound") == 1


class Unencodable(Processor):
    """Returns a state orjson cannot encode (a bug slipping past normalize)."""

    async def process(
        self, state: ConversationState, message: NormalizedMessage, now_ms: int, *origin: Origin
    ) -> Outcome:
        outcome = await super().process(state, message, now_ms, *origin)
        bad = dataclasses.replace(outcome.state, read_watermark_ms=10**30, seen={"a": 2**70})
        return dataclasses.replace(outcome, state=bad)


async def test_a_state_that_cannot_be_encoded_is_stored_without_the_bad_values() -> None:
    config = pages()
    batch = batch_processor(Unencodable(ProcessorSettings(), lambda: config))
    result = await batch.run([text(0), text(1)], lambda key: None, T0)
    [(encoded, _)] = result.states.values()
    state = decode_state(encoded)
    assert state.read_watermark_ms is None and state.seen == {}
    assert len(state.history) == 2  # the rest of the state kept
    assert topics(result.outputs).count("outbound") == 2


def test_an_output_too_large_for_the_broker_becomes_a_dead_letter_of_its_cause() -> None:
    original = b"x" * (MAX_RECORD_BYTES + 10)
    cause = InRecord("p.inbound", 3, 7, b"1001:u1", original)
    huge = OutRecord("outbound", b"1001:u1", b"y" * (MAX_RECORD_BYTES + 1))
    fine = OutRecord("analytics", b"1001:u1", b"{}")
    assert within_size(cause, [fine], T0) == [fine]
    letters = within_size(cause, [fine, huge], T0)
    assert topics(letters) == ["dlq", "analytics"]
    assert all(len(out.value) <= MAX_RECORD_BYTES for out in letters)
    letter = decode_dead_letter(letters[0].value)
    assert letter.reason == "output_too_large" and letter.original_truncated
    assert letter.original_bytes() == original[: MAX_RECORD_BYTES // 2]


def test_a_dead_letter_keeps_its_original_whole_when_it_fits() -> None:
    control = bytes(range(32)) * 1000  # escapes to six bytes each in JSON
    record = InRecord("p.inbound", 0, 1, None, control)
    letter = decode_dead_letter(dead_letters(record, "x", "y", T0)[0].value)
    assert letter.original_bytes() == control and not letter.original_truncated
