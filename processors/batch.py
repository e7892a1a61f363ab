"""One batch of inbound records → output records and the conversation states to store.

Kafka-agnostic: the faust adapter gives records and a state lookup, and sends what comes back.
Order: outputs are in input order, so each conversation's commands keep their order.

Isolation: everything one record does (decode, normalize, state update, responder, encoding its
outputs, their size) happens inside one guard; whatever it raises dead-letters that record
(reason and original, processors/isolation.py) and the batch goes on. States are encoded once
per conversation at the end; `ConversationState.encode` never raises (normalize keeps every
value in range, and a value that slips through is dropped there), so no record can stop a batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from hookstream.runtime.logging import event, get_logger
from hookstream.runtime.tracing import NOOP, Span, Tracer, new_trace, record_headers
from processors.core import Origin, Outcome, Processor
from processors.errors import InvalidEnvelope, ProcessorError
from processors.isolation import (
    SERVICE,
    InRecord,
    OutRecord,
    dead_letters,
    describe,
    reason_of,
    within_size,
)
from processors.metrics import ProcessorMetrics
from processors.normalize import normalize
from processors.state import ConversationState, decode_state, dedupe_key
from schemas.analytics import DuplicateDropped
from schemas.envelope import InboundEnvelope, decode_envelope
from schemas.errors import SchemaError
from schemas.messages import NormalizedMessage

__all__ = ["SERVICE", "BatchProcessor", "BatchResult", "InRecord", "OutRecord", "parse"]

log = get_logger("processors")


@dataclass
class BatchResult:
    outputs: list[OutRecord] = field(default_factory=list)
    # conversation key -> (encoded state, the last record of that conversation in the batch)
    states: dict[bytes, tuple[bytes, InRecord]] = field(default_factory=dict)


def envelope_of(record: InRecord) -> InboundEnvelope:
    try:
        return decode_envelope(record.value)
    except SchemaError as exc:
        raise InvalidEnvelope(str(exc)) from None


def parse(record: InRecord) -> NormalizedMessage:
    return normalize(envelope_of(record))


def encode_outputs(key: bytes, outcome: Outcome) -> list[OutRecord]:
    # orjson serializes the frozen dataclasses natively: the same bytes as .encode().
    outputs = [OutRecord("outbound", key, orjson.dumps(command)) for command in outcome.commands]
    outputs += [OutRecord("analytics", key, orjson.dumps(fact)) for fact in outcome.facts]
    return outputs


def duplicate_fact(
    record: InRecord, message: NormalizedMessage, request_id: str, first_ms: int, now_ms: int
) -> DuplicateDropped:
    """The fact of a dropped copy, its id from the copy's record: the same record processed
    again (a restart before the commit) gives the same fact, each redelivery its own."""
    return DuplicateDropped(
        fact_id=f"dup:{message.event_id}:{record.topic}:{record.partition}:{record.offset}",
        event_id=message.event_id,
        page_id=message.page_id,
        conversation_id=message.conversation_id,
        platform=message.platform,
        kind=message.kind,
        received_at_ms=message.received_at_ms,
        first_received_at_ms=first_ms,
        processed_at_ms=now_ms,
        request_id=request_id,
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
    )


class BatchProcessor:
    def __init__(self, processor: Processor, metrics: ProcessorMetrics) -> None:
        self.processor, self.metrics = processor, metrics
        self._by_kind: dict[str, Any] = {}
        # Records an operator's replay re-reads (processed once already): not redeliveries.
        self.replayed: Callable[[InRecord], bool] = lambda _record: False
        self.tracer: Tracer = NOOP  # spans "processors.process" when exporting

    def _account(self, message: NormalizedMessage, outcome: Outcome, now_ms: int) -> None:
        m = self.metrics
        counter = self._by_kind.get(message.kind)
        if counter is None:
            counter = self._by_kind[message.kind] = m.events.labels(message.kind)
        counter.inc()
        if outcome.duplicate:
            m.duplicates.inc()
            m.facts.labels("duplicate_dropped").inc()
            return
        m.lag_seconds.observe(max(0, now_ms - message.received_at_ms) / 1000)
        for command in outcome.commands:
            m.commands.labels(command.origin).inc()
        for fact in outcome.facts:
            m.facts.labels(fact.fact).inc()
            if getattr(fact, "rate_limited", False):
                m.rate_limited.inc()

    async def one(
        self,
        record: InRecord,
        states: dict[bytes, ConversationState],
        load: Callable[[bytes], bytes | None],
        now_ms: int,
    ) -> tuple[bytes, NormalizedMessage, Outcome, list[OutRecord]]:
        """Everything one record does, up to its encoded outputs; raises on anything wrong."""
        envelope = envelope_of(record)
        message = normalize(envelope)
        key = message.conversation_id.encode()
        state = states.get(key) or decode_state(load(key))
        if self.replayed(record):  # re-planned with the same ids; the dedupe window forgets it
            seen = dedupe_key(message.event_id)
            state = replace(state, seen={k: t for k, t in state.seen.items() if k != seen})
        origin = Origin(envelope.request_id, record.topic, record.partition, record.offset)
        outcome = await self.processor.process(state, message, now_ms, origin)
        if outcome.duplicate:  # dropped: no state change, no reply, only its fact
            fact = duplicate_fact(
                record, message, envelope.request_id, outcome.first_seen_ms, now_ms
            )
            outcome = replace(outcome, facts=(fact,))
        outputs = encode_outputs(key, outcome)
        return key, message, outcome, within_size(record, outputs, now_ms)

    async def run(
        self, records: Sequence[InRecord], load: Callable[[bytes], bytes | None], now_ms: int
    ) -> BatchResult:
        result = BatchResult()
        states: dict[bytes, ConversationState] = {}
        last: dict[bytes, InRecord] = {}
        for record in records:
            # Every output of the record carries a child of its trace context (W3C traceparent).
            span = self._span(record) if self.tracer.enabled else None
            headers = record_headers(
                span.context if span else (record.trace or new_trace()).child()
            )
            try:
                key, message, outcome, outputs = await self.one(record, states, load, now_ms)
            except Exception as exc:  # noqa: BLE001 - one record never stops the stream
                self.dead_letter(result, record, exc, now_ms, headers)
                if span:
                    span.fail(reason_of(exc))
                    span.end()
                continue
            self._account(message, outcome, now_ms)
            if span:
                span.set("event.id", message.event_id)
                span.set("event.kind", message.kind)
                span.set("duplicate", outcome.duplicate)
                span.set("commands", len(outcome.commands))
                span.end()
            if not outcome.duplicate:
                states[key], last[key] = outcome.state, record
            result.outputs += [OutRecord(o.topic, o.key, o.value, headers) for o in outputs]
        result.states = {key: (state.encode(), last[key]) for key, state in states.items()}
        return result

    def _span(self, record: InRecord) -> Span:
        """The "processors.process" span: a child of the record's trace, else a new root."""
        if record.trace is not None:
            return self.tracer.start("processors.process", record.trace)
        return self.tracer.root("processors.process")

    def dead_letter(
        self,
        result: BatchResult,
        record: InRecord,
        error: BaseException,
        now_ms: int,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        reason = reason_of(error)
        self.metrics.dead_letters.labels(reason).inc()
        self.metrics.errors.labels(reason).inc()
        level = logging.WARNING if isinstance(error, ProcessorError) else logging.ERROR
        text = describe(error)
        event(
            log,
            "record_dead_lettered",
            level,
            reason=reason,
            error=text[:300],
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        if headers is None:  # the dead letters keep the source's trace
            headers = record_headers(record.trace.child() if record.trace else None)
        result.outputs += [
            OutRecord(o.topic, o.key, o.value, headers or None)
            for o in dead_letters(record, reason, text, now_ms)
        ]
