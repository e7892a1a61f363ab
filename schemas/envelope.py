"""The versioned envelope of one webhook event on the `inbound` topic.

The raw event is kept exactly as Meta sent it (as JSON, not re-normalized), so that processors of
a later version can re-read what earlier ones did not understand.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, get_type_hints

import orjson

from schemas.errors import SchemaError

ENVELOPE_SCHEMA_VERSION = 1
SOURCES = ("messaging", "standby", "changes")


@dataclass(frozen=True, slots=True)
class InboundEnvelope:
    """One webhook event with what it is, whose it is and when it happened."""

    schema_version: int
    event_id: str
    received_at_ms: int
    platform: str
    object: str
    page_id: str
    user_id: str
    conversation_id: str
    kind: str
    source: str
    event_time_ms: int
    test: bool
    request_id: str
    raw: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: that deep-copies `raw`, which costs on the hot path.
        return {name: getattr(self, name) for name in _FIELD_NAMES}

    def encode(self) -> bytes:
        return orjson.dumps(self.to_dict())


FIELD_DOCS = {
    "schema_version": "version of this envelope's shape",
    "event_id": "deterministic id of the event (same on Meta's redeliveries)",
    "received_at_ms": "when the ingress received the POST, epoch ms",
    "platform": "messenger | instagram | facebook (page feed changes)",
    "object": "the webhook object Meta sent: page | instagram | ...",
    "page_id": "page id (Instagram: the professional account id)",
    "user_id": "the other party: PSID / IGSID / commenter id, '_' when there is none",
    "conversation_id": "<page_id>:<user_id>, the Kafka key",
    "kind": "message, message_echo, postback, read, delivery, reaction, ..., unknown",
    "source": "where in the entry the event was: messaging | standby | changes",
    "event_time_ms": "the event's own time normalized to epoch ms",
    "test": "true for the app dashboard's Test button samples (entry id '0')",
    "request_id": "id of the webhook request that carried it (matches the ingress log)",
    "raw": "the event exactly as Meta sent it",
}

_TYPES = get_type_hints(InboundEnvelope)
JSON_TYPES = {int: "integer", str: "string", bool: "boolean"}


_FIELD_NAMES = tuple(f.name for f in fields(InboundEnvelope))


def envelope_fields() -> list[tuple[str, type]]:
    return [(f.name, _TYPES[f.name]) for f in fields(InboundEnvelope)]


def _check(name: str, value: Any, expected: type) -> None:
    base = dict if expected not in JSON_TYPES else expected
    ok = isinstance(value, base) and not (base is int and isinstance(value, bool))
    if not ok:
        raise SchemaError(f"envelope field {name!r} must be {JSON_TYPES.get(base, 'object')}")


def envelope_from_dict(data: Any) -> InboundEnvelope:
    if not isinstance(data, dict):
        raise SchemaError("envelope must be a JSON object")
    version = data.get("schema_version")
    if version != ENVELOPE_SCHEMA_VERSION:
        raise SchemaError(f"unsupported envelope schema_version {version!r}")
    values = {}
    for name, expected in envelope_fields():
        if name not in data:
            raise SchemaError(f"envelope field {name!r} is missing")
        _check(name, data[name], expected)
        values[name] = data[name]
    return InboundEnvelope(**values)


def decode_envelope(payload: bytes | None) -> InboundEnvelope:
    if not payload:
        raise SchemaError("empty record")
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise SchemaError(f"record is not JSON: {exc}") from None
    return envelope_from_dict(data)
