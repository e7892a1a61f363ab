"""Pure: what the sink could not store -> dead letters for `dlq`, plus a `DeadLettered` fact
each (so the DLQ volume panels count the sink's own dead letters too). A dead letter carries its
source record's `traceparent`, so a redrive continues that trace, as the other services' do."""

from __future__ import annotations

from collections.abc import Sequence

from hookstream.runtime.consumer import Consumed
from hookstream.runtime.tracing import record_headers
from schemas.analytics import DeadLettered, encode_fact
from schemas.dlq import DeadLetter, fitted_dead_letter
from sinks.batch import Malformed
from sinks.writer import Rejected

SERVICE = "sink"
KeyValue = tuple[bytes | None, bytes]
Headers = list[tuple[str, bytes]]
Letter = tuple[bytes | None, bytes, Headers]  # key, value, headers (the source's traceparent)


def letter(
    source: Consumed, reason: str, error: str, now_ms: int, page_id: str = ""
) -> tuple[DeadLetter, bytes]:
    """The dead letter and its encoding, small enough for the dlq topic whatever the source."""
    return fitted_dead_letter(
        topic=source.topic,
        partition=source.partition,
        offset=source.offset,
        key=source.key,
        value=source.value,
        reason=reason,
        error=error,
        service=SERVICE,
        failed_at_ms=now_ms,
        page_id=page_id,
    )


def fact_for(dead: DeadLetter) -> DeadLettered:
    return DeadLettered(
        fact_id=f"dlq:{dead.dead_letter_id}",
        dead_letter_id=dead.dead_letter_id,
        source_topic=dead.source_topic,
        service=dead.service,
        reason=dead.reason,
        page_id=dead.page_id,
        failed_at_ms=dead.failed_at_ms,
        conversation_id=dead.key or "",
    )


def dead_letters_for(
    malformed: Sequence[Malformed], rejected: Sequence[Rejected], now_ms: int
) -> tuple[list[Letter], list[KeyValue]]:
    """(dlq records, analytics facts). A refused DeadLettered row gets no new fact (no loop)."""
    letters = [(letter(m.source, m.reason, m.error, now_ms), m.source) for m in malformed]
    refused = [
        (letter(r.source, "clickhouse_rejected", r.error, now_ms, r.page_id), r) for r in rejected
    ]
    letters += [(dead, r.source) for dead, r in refused]
    facts = [fact_for(d) for (d, _), _ in letters[: len(malformed)]]
    facts += [fact_for(dead) for (dead, _), r in refused if r.table != "dead_letters"]
    return (
        [
            (d.key.encode() if d.key is not None else None, value, record_headers(source.trace))
            for (d, value), source in letters
        ],
        [(f.conversation_id.encode() or None, encode_fact(f)) for f in facts],
    )
