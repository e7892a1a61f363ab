"""Dead letters on the `dlq` topic: what could not be processed or delivered, why, and the
original record, so that it can be inspected and redriven to its source topic."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from schemas.records import build, encode_record, load_json_object

DLQ_SCHEMA_VERSION = 1
# Kafka's default message.max.bytes is 1,048,588 (aiokafka's max_request_size 1,048,576); a dead
# letter stays under this, framing and key included.
MAX_DEAD_LETTER_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    source_topic: str
    source_partition: int
    source_offset: int
    key: str | None
    reason: str  # short machine-readable cause, e.g. "invalid_envelope", "outside_window"
    error: str  # the human-readable message
    service: str  # processors | sender | sink | ...
    failed_at_ms: int
    original_value: str  # UTF-8 text when it decodes, else base64 (see original_encoding)
    original_encoding: str = "utf-8"  # utf-8 | base64
    page_id: str = ""
    dead_letter_id: str = ""  # deterministic: "<topic>:<partition>:<offset>[:suffix]"
    # True when the original was too large for the dlq topic and only its head is kept: the
    # whole record is still at source_topic/source_partition/source_offset (within retention).
    original_truncated: bool = False
    # The W3C trace context of the dead letter (`traceparent`): a redrive sends the original on
    # with it, so the redriven record continues the same trace. The services carry it as the
    # dlq record's `traceparent` header (a child of the original record's); readers of the dlq
    # topic fill it in from there (hookstream.ops.dlq_topic).
    traceparent: str = ""
    schema_version: int = DLQ_SCHEMA_VERSION

    def encode(self) -> bytes:
        return encode_record(self)

    def original_bytes(self) -> bytes:
        if self.original_encoding == "base64":
            return base64.b64decode(self.original_value)
        return self.original_value.encode()


def original_text(value: bytes | None) -> tuple[str, str]:
    if value is None:
        return "", "utf-8"
    try:
        return value.decode(), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(value).decode(), "base64"


def dead_letter_for(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    reason: str,
    error: str,
    service: str,
    failed_at_ms: int,
    page_id: str = "",
    suffix: str = "",
    max_original_bytes: int | None = None,
) -> DeadLetter:
    """The dead letter of one record. With `max_original_bytes`, an original longer than that
    is cut to it and kept as base64 (a predictable size, whatever the bytes escape to)."""
    truncated = (
        value is not None and max_original_bytes is not None and len(value) > max_original_bytes
    )
    if truncated and value is not None:
        text, encoding = base64.b64encode(value[:max_original_bytes]).decode(), "base64"
    else:
        text, encoding = original_text(value)
    letter_id = f"{topic}:{partition}:{offset}" + (f":{suffix}" if suffix else "")
    return DeadLetter(
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
        key=key.decode(errors="replace") if key is not None else None,
        reason=reason,
        error=error,
        service=service,
        failed_at_ms=failed_at_ms,
        original_value=text,
        original_encoding=encoding,
        page_id=page_id,
        dead_letter_id=letter_id,
        original_truncated=truncated,
    )


def fitted_dead_letter(
    limit: int = MAX_DEAD_LETTER_BYTES, **fields: Any
) -> tuple[DeadLetter, bytes]:
    """`dead_letter_for(**fields)` and its encoding, with the original cut (base64, flagged
    `original_truncated`) only when the whole of it would make the record too large."""
    letter = dead_letter_for(**fields)
    encoded = letter.encode()
    if len(encoded) > limit:
        letter = dead_letter_for(**fields, max_original_bytes=limit // 2)
        encoded = letter.encode()
    return letter, encoded


def decode_dead_letter(payload: bytes | None) -> DeadLetter:
    data = load_json_object(payload, "dead letter")
    return build(DeadLetter, data, DLQ_SCHEMA_VERSION, "dead letter")
