from __future__ import annotations

from hookstream.runtime.settings import ProcessorSettings
from processors.batch import BatchProcessor, InRecord
from processors.core import Processor
from processors.metrics import ProcessorMetrics
from processors.state import decode_state
from schemas.analytics import DuplicateDropped, MessageReceived, decode_fact, encode_fact
from schemas.commands import decode_command
from schemas.dlq import decode_dead_letter
from tests.support.processors_unit import PAGE, T0, messaging, pages


def record(offset: int, value: bytes, key: bytes = b"1001:2002") -> InRecord:
    return InRecord("p.inbound", 0, offset, key, value)


def text_record(offset: int, mid: str, user: str = "2002") -> InRecord:
    event = {
        "sender": {"id": user},
        "recipient": {"id": PAGE},
        "timestamp": T0 + offset,
        "message": {"mid": mid, "text": "price"},
    }
    return record(offset, messaging(event).encode(), f"{PAGE}:{user}".encode())


def batch_processor() -> tuple[BatchProcessor, ProcessorMetrics]:
    config = pages()
    metrics = ProcessorMetrics.create()
    return BatchProcessor(Processor(ProcessorSettings(), lambda: config), metrics), metrics


async def test_poison_records_are_dead_lettered_and_the_rest_processed() -> None:
    batch, metrics = batch_processor()
    records = [
        text_record(0, "a"),
        record(1, b"\xff not json"),
        record(2, b'{"x": 1}'),
        text_record(3, "b"),
    ]
    result = await batch.run(records, lambda key: None, T0)
    by_topic = [out.topic for out in result.outputs]
    assert by_topic.count("outbound") == 2 and by_topic.count("dlq") == 2
    letters = [decode_dead_letter(o.value) for o in result.outputs if o.topic == "dlq"]
    assert [(d.source_offset, d.reason) for d in letters] == [
        (1, "invalid_envelope"),
        (2, "invalid_envelope"),
    ]
    assert letters[0].original_bytes() == b"\xff not json"
    facts = [decode_fact(o.value) for o in result.outputs if o.topic == "analytics"]
    assert [f.fact for f in facts].count("dead_lettered") == 2
    assert metrics.dead_letters.labels("invalid_envelope")._value.get() == 2


async def test_outputs_keep_input_order_and_state_is_stored_once_per_conversation() -> None:
    batch, _ = batch_processor()
    records = [text_record(i, f"m{i}", user=str(i % 2)) for i in range(6)]
    result = await batch.run(records, lambda key: None, T0)
    commands = [decode_command(o.value) for o in result.outputs if o.topic == "outbound"]
    assert [c.cause_event_id for c in commands] == [f"message:m{i}" for i in range(6)]
    assert set(result.states) == {b"1001:0", b"1001:1"}
    state, last = result.states[b"1001:1"]
    assert last.offset == 5 and len(decode_state(state).history) == 3


async def test_duplicates_within_a_batch_and_against_stored_state() -> None:
    batch, metrics = batch_processor()
    first = await batch.run([text_record(0, "a"), text_record(1, "a")], lambda key: None, T0)
    assert [o.topic for o in first.outputs].count("outbound") == 1
    stored = {key: value for key, (value, _) in first.states.items()}
    again = await batch.run([text_record(2, "a")], stored.get, T0)
    assert metrics.duplicates._value.get() == 2
    # a dropped copy changes no state, plans nothing, and leaves one fact saying so
    assert again.states == {} and [o.topic for o in again.outputs] == ["analytics"]
    [dropped] = [decode_fact(o.value) for o in again.outputs]
    assert isinstance(dropped, DuplicateDropped)
    assert dropped.fact_id == "dup:message:a:p.inbound:0:2"
    assert (dropped.event_id, dropped.source_offset, dropped.request_id) == ("message:a", 2, "r")
    assert dropped.first_received_at_ms == dropped.received_at_ms == T0
    assert metrics.facts.labels("duplicate_dropped")._value.get() == 2


async def test_a_dropped_copy_read_again_is_the_same_fact() -> None:
    """A restart before the commit reads the copy again: same fact id and sorting key (ts),
    so the sink stores it once; another copy (another offset) is a fact of its own."""
    stored: dict[bytes, bytes] = {}
    outs: list[list[DuplicateDropped]] = []
    for _ in range(2):
        batch, _ = batch_processor()
        first = await batch.run([text_record(0, "a")], lambda key: None, T0)
        stored = {key: value for key, (value, _) in first.states.items()}
        later = await batch.run([text_record(5, "a"), text_record(6, "a")], stored.get, T0 + 9)
        facts = [decode_fact(o.value) for o in later.outputs]
        outs.append([f for f in facts if isinstance(f, DuplicateDropped)])
        assert len(outs[-1]) == len(facts)  # every output is a dropped copy's fact
    ids = [[(f.fact_id, f.received_at_ms) for f in run] for run in outs]
    assert ids[0] == ids[1]
    assert [fact_id for fact_id, _ in ids[0]] == [
        "dup:message:a:p.inbound:0:5",
        "dup:message:a:p.inbound:0:6",
    ]


async def test_outputs_are_the_contract_encodings() -> None:
    batch, _ = batch_processor()
    result = await batch.run([text_record(0, "a")], lambda key: None, T0)
    for out in result.outputs:
        if out.topic == "outbound":
            assert out.value == decode_command(out.value).encode()
        else:
            assert out.value == encode_fact(decode_fact(out.value))


async def test_a_message_fact_names_its_request_and_record() -> None:
    batch, _ = batch_processor()
    result = await batch.run([text_record(7, "a")], lambda key: None, T0)
    facts = [decode_fact(o.value) for o in result.outputs if o.topic == "analytics"]
    [received] = [f for f in facts if f.fact == "message_received"]
    assert isinstance(received, MessageReceived)
    assert (received.request_id, received.source_topic) == ("r", "p.inbound")
    assert (received.source_partition, received.source_offset) == (0, 7)
