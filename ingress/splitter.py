"""One webhook body → one Kafka record per event, keyed by conversation.

Every entry and every `messaging[]`, `standby[]` and `changes[]` item becomes a record. What cannot
be classified still goes through, as kind `unknown`: nothing in a verified body is dropped. Times
that are no time (1e20, "nan", ...) are dropped from the envelope's `event_time_ms` (the entry's
time or the received time stands in) while `raw` keeps them as sent. A body that no record can
carry (an event nested deeper than MAX_RAW_DEPTH, a number orjson cannot hold, more than
MAX_EVENTS events) is refused whole with a 4xx naming why: a retry would get the same answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from ingress.errors import EventRejected, IngressError, MalformedBody, TooManyEvents
from schemas.envelope import (
    ENVELOPE_SCHEMA_VERSION,
    MAX_RAW_DEPTH,
    InboundEnvelope,
    TooDeeplyNested,
    UnrepresentableNumber,
    decode_envelope,
    envelope_rejection,
    raw_depth_exceeds,
)
from schemas.events import (
    NO_USER,
    TEST_ENTRY_ID,
    EventIdentity,
    as_id,
    content_hash,
    identify_change,
    identify_messaging,
    platform_of,
)
from schemas.timestamps import to_millis

_ITEM_LISTS = ("messaging", "standby", "changes")
# Meta documents batches of up to 1,000 updates; far more is no delivery of Meta's.
MAX_EVENTS = 10_000


@dataclass(frozen=True, slots=True)
class Record:
    key: bytes
    value: bytes
    platform: str
    kind: str

    @property
    def envelope(self) -> InboundEnvelope:
        """The record's envelope, decoded (validated) from its value; not for the hot path."""
        return decode_envelope(self.value)


def parse_body(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _unparseable(exc) from None
    if not isinstance(data, dict):
        raise MalformedBody("body must be a JSON object")
    if not isinstance(data.get("entry"), list):
        raise MalformedBody("body must have an 'entry' array")
    return data


def _unparseable(exc: orjson.JSONDecodeError) -> IngressError:
    where = f"{exc.msg} at {exc.pos}"
    if "infinity" in exc.msg:  # 1e400, or 1 and 400 zeros: "number is infinity when parsed..."
        return EventRejected(
            f"body has a number that cannot be parsed ({where})", UnrepresentableNumber.reason
        )
    if "depth limit" in exc.msg:
        return EventRejected(f"body nests too deeply ({where})", TooDeeplyNested.reason)
    return MalformedBody(f"body is not valid JSON ({where})")


def shallow(body: bytes) -> bool:
    """True when no event of `body` can nest deeper than MAX_RAW_DEPTH: it has fewer opening
    brackets than that (two C-level scans, so split() can skip walking every event)."""
    return body.count(b"{") + body.count(b"[") < MAX_RAW_DEPTH


def _events_of(entry: Any) -> Iterator[tuple[str, Any]]:
    if not isinstance(entry, dict):
        yield "messaging", entry
        return
    found = False
    for source in _ITEM_LISTS:
        items = entry.get(source)
        if isinstance(items, list):
            for item in items:
                found = True
                yield source, item
    if not found:
        yield "messaging", entry


def _identify(obj: str, entry: Any, source: str, item: Any) -> EventIdentity:
    entry_id = as_id(entry.get("id")) if isinstance(entry, dict) else ""
    if isinstance(item, dict) and item is not entry:
        if source == "changes":
            return identify_change(obj, entry_id, item, entry.get("time"))
        return identify_messaging(entry_id, item)
    return EventIdentity(
        "unknown", entry_id or NO_USER, NO_USER, f"unknown:h{content_hash(item)}", None
    )


def split(
    data: dict[str, Any],
    received_at_ms: int,
    request_id: str,
    *,
    depth_checked: bool = False,
    max_events: int = MAX_EVENTS,
) -> list[Record]:
    """One record per event. Raises only IngressError: EventRejected (too_deeply_nested,
    unparseable_number, ...) or TooManyEvents. `depth_checked`: see `shallow()`."""
    obj = data.get("object")
    obj = obj if isinstance(obj, str) else ""
    records: list[Record] = []
    for entry in data["entry"]:
        entry_time = to_millis(entry.get("time")) if isinstance(entry, dict) else None
        for source, item in _events_of(entry):
            if len(records) >= max_events:
                raise TooManyEvents(f"body has more than {max_events} events")
            raw = item if isinstance(item, dict) else {"value": item}
            if not depth_checked and raw_depth_exceeds(raw):
                raise EventRejected(
                    f"an event nests deeper than {MAX_RAW_DEPTH} levels", TooDeeplyNested.reason
                )
            ident = _identify(obj, entry, source, item)
            platform = platform_of(obj, source)
            conversation = ident.conversation_id
            # The fields of InboundEnvelope, built as a dict: this is the hot path.
            envelope = {
                "schema_version": ENVELOPE_SCHEMA_VERSION,
                "event_id": ident.event_id,
                "received_at_ms": received_at_ms,
                "platform": platform,
                "object": obj,
                "page_id": ident.page_id,
                "user_id": ident.user_id,
                "conversation_id": conversation,
                "kind": ident.kind,
                "source": source,
                "event_time_ms": ident.event_time_ms or entry_time or received_at_ms,
                "test": ident.page_id == TEST_ENTRY_ID,
                "request_id": request_id,
                "raw": raw,
            }
            try:  # encode_envelope(envelope, depth_checked=True), inlined: the hot path
                value = orjson.dumps(envelope)
            except orjson.JSONEncodeError as exc:
                rejected = envelope_rejection(str(exc))
                raise EventRejected(str(rejected), rejected.reason) from None
            records.append(Record(conversation.encode(), value, platform, ident.kind))
    return records
