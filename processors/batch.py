"""One batch of inbound records → output records and the conversation states to store.

Kafka-agnostic: the faust adapter gives records and a state lookup, and sends what comes back.
Order: outputs are in input order, so each conversation's commands keep their order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from hookstream.runtime.logging import event, get_logger
from processors.core import Outcome, Processor
from processors.errors import InvalidEnvelope, ProcessorError
from processors.metrics import ProcessorMetrics
from processors.normalize import normalize
from processors.state import ConversationState, decode_state
from schemas.analytics import DeadLettered, encode_fact
from schemas.dlq import dead_letter_for
from schemas.envelope import decode_envelope
from schemas.errors import SchemaError
from schemas.messages import NormalizedMessage

log = get_logger("processors")
SERVICE = "processors"


@dataclass(frozen=True, slots=True)
class InRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class OutRecord:
    topic: str  # name after the prefix: outbound | analytics | dlq
    key: bytes | None
    value: bytes


@dataclass
class BatchResult:
    outputs: list[OutRecord] = field(default_factory=list)
    # conversation key -> (encoded state, the last record of that conversation in the batch)
    states: dict[bytes, tuple[bytes, InRecord]] = field(default_factory=dict)


def parse(record: InRecord) -> NormalizedMessage:
    try:
        envelope = decode_envelope(record.value)
    except SchemaError as exc:
        raise InvalidEnvelope(str(exc)) from None
    return normalize(envelope)


def dead_letters(record: InRecord, error: Exception, now_ms: int) -> list[OutRecord]:
    reason = error.reason if isinstance(error, ProcessorError) else "processing_failed"
    letter = dead_letter_for(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        reason=reason,
        error=str(error)[:1000],
        service=SERVICE,
        failed_at_ms=now_ms,
    )
    fact = DeadLettered(
        fact_id=f"dlq:{letter.dead_letter_id}",
        dead_letter_id=letter.dead_letter_id,
        source_topic=record.topic,
        service=SERVICE,
        reason=reason,
        page_id="",
        failed_at_ms=now_ms,
        conversation_id=letter.key or "",
    )
    return [
        OutRecord("dlq", record.key, letter.encode()),
        OutRecord("analytics", record.key, encode_fact(fact)),
    ]


class BatchProcessor:
    def __init__(self, processor: Processor, metrics: ProcessorMetrics) -> None:
        self.processor, self.metrics = processor, metrics
        self._by_kind: dict[str, Any] = {}

    def _account(self, message: NormalizedMessage, outcome: Outcome, now_ms: int) -> None:
        m = self.metrics
        counter = self._by_kind.get(message.kind)
        if counter is None:
            counter = self._by_kind[message.kind] = m.events.labels(message.kind)
        counter.inc()
        if outcome.duplicate:
            m.duplicates.inc()
            return
        m.lag_seconds.observe(max(0, now_ms - message.received_at_ms) / 1000)
        for command in outcome.commands:
            m.commands.labels(command.origin).inc()
        for fact in outcome.facts:
            m.facts.labels(fact.fact).inc()
            if getattr(fact, "rate_limited", False):
                m.rate_limited.inc()

    def _emit(self, result: BatchResult, key: bytes, outcome: Outcome) -> None:
        for command in outcome.commands:
            # orjson serializes the frozen dataclasses natively: the same bytes as .encode().
            result.outputs.append(OutRecord("outbound", key, orjson.dumps(command)))
        for fact in outcome.facts:
            result.outputs.append(OutRecord("analytics", key, orjson.dumps(fact)))

    async def run(
        self, records: Sequence[InRecord], load: Callable[[bytes], bytes | None], now_ms: int
    ) -> BatchResult:
        result = BatchResult()
        states: dict[bytes, ConversationState] = {}
        last: dict[bytes, InRecord] = {}
        for record in records:
            try:
                message = parse(record)
                key = message.conversation_id.encode()
                state = states.get(key) or decode_state(load(key))
                outcome = await self.processor.process(state, message, now_ms)
            except Exception as exc:  # noqa: BLE001 - bad input never stops the stream
                self._dead_letter(result, record, exc, now_ms)
                continue
            self._account(message, outcome, now_ms)
            if not outcome.duplicate:
                states[key], last[key] = outcome.state, record
                self._emit(result, key, outcome)
        result.states = {key: (state.encode(), last[key]) for key, state in states.items()}
        return result

    def _dead_letter(
        self, result: BatchResult, record: InRecord, error: Exception, now_ms: int
    ) -> None:
        reason = error.reason if isinstance(error, ProcessorError) else "processing_failed"
        self.metrics.dead_letters.labels(reason).inc()
        self.metrics.errors.labels(reason).inc()
        level = logging.WARNING if isinstance(error, ProcessorError) else logging.ERROR
        event(
            log,
            "record_dead_lettered",
            level,
            reason=reason,
            error=str(error)[:300],
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        result.outputs.extend(dead_letters(record, error, now_ms))
