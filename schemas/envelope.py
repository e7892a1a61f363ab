"""The versioned envelope of one webhook event on the `inbound` topic.

The raw event is kept exactly as Meta sent it (as JSON, not re-normalized), so that processors of
a later version can re-read what earlier ones did not understand.

Encoding is total: `encode_envelope` (and `InboundEnvelope.encode`) either return bytes that
`decode_envelope` reads back, with `raw` equal to what was given, or raise an `EnvelopeRejected`
naming why (`too_deeply_nested`, `unparseable_number`, `unencodable_event`). `raw` nests at most
`MAX_RAW_DEPTH` levels, so every consumer can wrap it in ~120 levels of its own and still encode
it with orjson (whose limit is 254). Any value `orjson.loads` returns, no deeper than that,
encodes; JSON has no NaN/Infinity, so a non-finite Python float is written as null.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, get_type_hints

import orjson

from schemas.errors import SchemaError

ENVELOPE_SCHEMA_VERSION = 1
SOURCES = ("messaging", "standby", "changes")
# How deep the raw event may nest (an object or array is one level; the event itself is 1).
# Meta's deepest payloads nest ~8 levels.
MAX_RAW_DEPTH = 128


class EnvelopeRejected(SchemaError):
    """An event that no envelope can carry; `reason` is the machine-readable cause."""

    reason = "unencodable_event"


class TooDeeplyNested(EnvelopeRejected):
    reason = "too_deeply_nested"


class UnrepresentableNumber(EnvelopeRejected):
    reason = "unparseable_number"


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
        """The record value; raises EnvelopeRejected (a SchemaError) for what cannot be one."""
        data = self.to_dict()
        for name, expected in envelope_fields():
            problem = _type_problem(name, data[name], expected)
            if problem:
                raise EnvelopeRejected(problem)
        return encode_envelope(data)


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


def _type_problem(name: str, value: Any, expected: type) -> str | None:
    base = dict if expected not in JSON_TYPES else expected
    ok = isinstance(value, base) and not (base is int and isinstance(value, bool))
    return None if ok else f"envelope field {name!r} must be {JSON_TYPES.get(base, 'object')}"


def _check(name: str, value: Any, expected: type) -> None:
    problem = _type_problem(name, value, expected)
    if problem:
        raise SchemaError(problem)


def raw_depth_exceeds(value: Any, limit: int = MAX_RAW_DEPTH) -> bool:
    """Whether `value` nests deeper than `limit` levels (iterative: any depth, no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def check_raw_depth(raw: Any) -> None:
    if raw_depth_exceeds(raw):
        raise TooDeeplyNested(f"the event nests deeper than {MAX_RAW_DEPTH} levels")


def encode_envelope(fields: dict[str, Any], *, depth_checked: bool = False) -> bytes:
    """The JSON of an envelope given as a dict of its fields (the hot path builds the dict
    itself). `depth_checked=True`: the caller already knows `raw` is within MAX_RAW_DEPTH."""
    if not depth_checked:
        check_raw_depth(fields.get("raw"))
    try:
        return orjson.dumps(fields)
    except orjson.JSONEncodeError as exc:
        raise envelope_rejection(str(exc)) from None


def envelope_rejection(problem: str) -> EnvelopeRejected:
    """The rejection for orjson's encode error message `problem`."""
    if "Recursion limit" in problem:
        return TooDeeplyNested(f"the event nests too deeply to encode ({problem})")
    if "Integer exceeds" in problem:
        return UnrepresentableNumber(f"the event holds an integer beyond 64 bits ({problem})")
    return EnvelopeRejected(f"the event cannot be encoded as JSON ({problem[:200]})")


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
