"""Pure: what one record that cannot be processed turns into, and which outputs cannot be sent.

Every step of one record (decode, normalize, state update, responder, encoding its outputs) runs
inside one guard in `BatchProcessor.run`; whatever it raises becomes a dead letter with the
reason and the original record, and the batch goes on. An output the broker would refuse for its
size is replaced by a dead letter of the record that caused it (`within_size`), so that one
record can never make the batch's produce fail and the worker crash-loop on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hookstream.runtime.consumer import Consumed
from processors.errors import ProcessorError
from schemas.analytics import DeadLettered, encode_fact
from schemas.dlq import MAX_DEAD_LETTER_BYTES, fitted_dead_letter

SERVICE = "processors"
MAX_RECORD_BYTES = MAX_DEAD_LETTER_BYTES  # what the broker takes, framing and key included
MAX_KEY_BYTES = 4096  # a dead letter names its source's key; a longer one is cut


# The record a worker consumed: the shared consumer loop's record (its trace context is read
# from its `traceparent` header). The name stays for processors/batch.py.
InRecord = Consumed


@dataclass(frozen=True, slots=True)
class OutRecord:
    topic: str  # name after the prefix: outbound | analytics | dlq
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] | None = None  # its `traceparent`


def reason_of(error: BaseException) -> str:
    return error.reason if isinstance(error, ProcessorError) else "processing_failed"


def describe(error: BaseException, limit: int = 1000) -> str:
    text = str(error) or type(error).__name__
    return (
        text[:limit]
        if isinstance(error, ProcessorError)
        else f"{type(error).__name__}: {text}"[:limit]
    )


def dead_letters(record: Consumed, reason: str, error: str, now_ms: int) -> list[OutRecord]:
    """The dead letter of `record` (original kept; cut, and flagged so, only if it would not fit
    on the dlq topic) and its DeadLettered fact for the dashboards."""
    letter, encoded = fitted_dead_letter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key[:MAX_KEY_BYTES] if record.key else record.key,
        value=record.value,
        reason=reason,
        error=error[:1000],
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
        OutRecord("dlq", record.key, encoded),
        OutRecord("analytics", record.key, encode_fact(fact)),
    ]


def record_bytes(out: OutRecord) -> int:
    return len(out.value) + (len(out.key) if out.key else 0)


def within_size(
    record: Consumed, outputs: Sequence[OutRecord], now_ms: int, limit: int = MAX_RECORD_BYTES
) -> list[OutRecord]:
    """`outputs` of `record` as they are, or its dead letters (reason `output_too_large`) if any
    of them is larger than the broker takes."""
    too_large = next((out for out in outputs if record_bytes(out) > limit), None)
    if too_large is None:
        return list(outputs)
    error = f"a {too_large.topic} record of {record_bytes(too_large)} bytes (limit {limit})"
    return dead_letters(record, "output_too_large", error, now_ms)
