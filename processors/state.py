"""Conversation state (one per conversation id, kept in a faust table) and its pure updates.

The state holds the last N messages, the last inbound user time (the 24 h window), the read and
delivery watermarks, the ids seen within the dedupe window and the rate limiter's recent times.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from schemas.messages import NormalizedMessage
from schemas.timestamps import MAX_EPOCH_MS

STATE_VERSION = 1
HISTORY_TEXT_CHARS = 500
# Kinds with which the user opens (or renews) Meta's 24-hour standard messaging window.
WINDOW_OPENING_KINDS = frozenset({"message", "postback", "referral", "message_edit", "optin"})
_INT, _DICT = {int}, {dict}


@dataclass(frozen=True, slots=True)
class ConversationState:
    history: tuple[dict[str, Any], ...] = ()
    last_inbound_ms: int | None = None
    read_watermark_ms: int | None = None
    delivery_watermark_ms: int | None = None
    seen: dict[str, int] = field(default_factory=dict)  # event id -> received at (ms)
    recent_replies_ms: tuple[int, ...] = ()  # rate limiter: times of counted messages

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "history": self.history,
            "last_inbound_ms": self.last_inbound_ms,
            "read_watermark_ms": self.read_watermark_ms,
            "delivery_watermark_ms": self.delivery_watermark_ms,
            "seen": self.seen,
            "recent": self.recent_replies_ms,
        }

    def encode(self) -> bytes:
        """Never raises: normalize keeps every value in range, and should a value slip through
        anyway (a bug), what cannot be encoded is dropped (`sanitized`) rather than the worker
        stopping on it."""
        try:
            return orjson.dumps(self.to_dict())
        except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits, too deep...
            pass
        try:
            return orjson.dumps(sanitized(self).to_dict())
        except TypeError:  # e.g. a string orjson refuses: start this conversation afresh
            return orjson.dumps(ConversationState().to_dict())


def _is_ms(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_EPOCH_MS


def _ms_or_none(value: object) -> int | None:
    return value if _is_ms(value) else None  # type: ignore[return-value]


def _all_ms(values: Collection[Any]) -> bool:
    """Every value an epoch ms: the usual case checked in a few C calls (this runs for every
    conversation a batch loads)."""
    return not values or (
        set(map(type, values)) == _INT and min(values) >= 0 and max(values) <= MAX_EPOCH_MS
    )


def _history(value: object) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list):
        return ()
    if set(map(type, value)) <= _DICT:
        return tuple(value)
    return tuple(item for item in value if type(item) is dict)


def _seen(value: object) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    if _all_ms(value.values()):
        return value
    return {k: t for k, t in value.items() if _is_ms(t)}


def _recent(value: object) -> tuple[int, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(value) if _all_ms(value) else tuple(t for t in value if _is_ms(t))


def _from_dict(data: dict[str, Any]) -> ConversationState:
    """The state with every field of the wrong shape or out of range left out (history items
    are only required to be objects: their readers take each field with a default)."""
    return ConversationState(
        history=_history(data.get("history")),
        last_inbound_ms=_ms_or_none(data.get("last_inbound_ms")),
        read_watermark_ms=_ms_or_none(data.get("read_watermark_ms")),
        delivery_watermark_ms=_ms_or_none(data.get("delivery_watermark_ms")),
        seen=_seen(data.get("seen")),
        recent_replies_ms=_recent(data.get("recent")),
    )


def _encodes(value: object) -> bool:
    try:
        orjson.dumps(value)
    except TypeError:
        return False
    return True


def sanitized(state: ConversationState) -> ConversationState:
    """The state as it would read back after a round trip through JSON, minus what JSON (or
    orjson's 64-bit integers) cannot hold."""
    return _from_dict(
        {
            "history": [h for h in state.history if isinstance(h, dict) and _encodes(h)],
            "last_inbound_ms": state.last_inbound_ms,
            "read_watermark_ms": state.read_watermark_ms,
            "delivery_watermark_ms": state.delivery_watermark_ms,
            "seen": {k: t for k, t in state.seen.items() if isinstance(k, str)},
            "recent": list(state.recent_replies_ms),
        }
    )


def decode_state(payload: bytes | None) -> ConversationState:
    """Unreadable or missing state starts fresh, a field of the wrong shape is left out (state
    is an optimisation of correctness only: command ids are deterministic and the sender's
    ledger dedupes), so a stored state can never make every later event of its conversation
    fail."""
    if not payload:
        return ConversationState()
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return ConversationState()
    if not isinstance(data, dict) or data.get("v") != STATE_VERSION:
        return ConversationState()
    return _from_dict(data)


def dedupe_key(message_event_id: str) -> str:
    """Meta's redeliveries carry the same event id (mid; sender+watermark; mid+action...)."""
    return message_event_id


def is_duplicate(state: ConversationState, event_id: str, now_ms: int, window_ms: int) -> bool:
    seen_at = state.seen.get(dedupe_key(event_id))
    return seen_at is not None and now_ms - seen_at < window_ms


def remember(
    state: ConversationState, event_id: str, now_ms: int, window_ms: int, max_ids: int
) -> dict[str, int]:
    """The seen set with this id added, entries older than the window and beyond max dropped."""
    kept = {k: t for k, t in state.seen.items() if now_ms - t < window_ms}
    kept[dedupe_key(event_id)] = now_ms
    if len(kept) > max_ids:
        newest = sorted(kept.items(), key=lambda item: item[1])[-max_ids:]
        kept = dict(newest)
    return kept


def history_item(message: NormalizedMessage) -> dict[str, Any]:
    return {
        "event_id": message.event_id,
        "kind": message.kind,
        "direction": message.direction,
        "text": message.text[:HISTORY_TEXT_CHARS],
        "time_ms": message.event_time_ms,
    }


def _later(current: int | None, new: int | None) -> int | None:
    if new is None:
        return current
    return new if current is None else max(current, new)


def apply_message(
    state: ConversationState, message: NormalizedMessage, history_size: int
) -> ConversationState:
    """The state after this message: history, window, watermarks (dedupe/limiter are separate)."""
    history = state.history
    if message.kind in ("message", "message_echo", "postback", "message_edit") and history_size:
        history = (*history, history_item(message))[-history_size:]
    last_inbound = state.last_inbound_ms
    if message.direction == "in" and message.kind in WINDOW_OPENING_KINDS:
        last_inbound = _later(last_inbound, message.event_time_ms)
    watermark = message.watermark_ms or message.event_time_ms
    return replace(
        state,
        history=history,
        last_inbound_ms=last_inbound,
        read_watermark_ms=_later(
            state.read_watermark_ms, watermark if message.kind == "read" else None
        ),
        delivery_watermark_ms=_later(
            state.delivery_watermark_ms, watermark if message.kind == "delivery" else None
        ),
    )
