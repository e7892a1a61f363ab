"""Conversation state (one per conversation id, kept in a faust table) and its pure updates.

The state holds the last N messages, the last inbound user time (the 24 h window), the read and
delivery watermarks, the ids seen within the dedupe window and the rate limiter's recent times.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from schemas.messages import NormalizedMessage

STATE_VERSION = 1
HISTORY_TEXT_CHARS = 500
# Kinds with which the user opens (or renews) Meta's 24-hour standard messaging window.
WINDOW_OPENING_KINDS = frozenset({"message", "postback", "referral", "message_edit", "optin"})


@dataclass(frozen=True, slots=True)
class ConversationState:
    history: tuple[dict[str, Any], ...] = ()
    last_inbound_ms: int | None = None
    read_watermark_ms: int | None = None
    delivery_watermark_ms: int | None = None
    seen: dict[str, int] = field(default_factory=dict)  # event id -> received at (ms)
    recent_replies_ms: tuple[int, ...] = ()  # rate limiter: times of counted messages

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "v": STATE_VERSION,
                "history": self.history,
                "last_inbound_ms": self.last_inbound_ms,
                "read_watermark_ms": self.read_watermark_ms,
                "delivery_watermark_ms": self.delivery_watermark_ms,
                "seen": self.seen,
                "recent": self.recent_replies_ms,
            }
        )


def decode_state(payload: bytes | None) -> ConversationState:
    """Unreadable or missing state starts fresh (state is an optimisation of correctness only:
    command ids are deterministic and the sender's ledger dedupes)."""
    if not payload:
        return ConversationState()
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return ConversationState()
    if not isinstance(data, dict) or data.get("v") != STATE_VERSION:
        return ConversationState()
    return ConversationState(
        history=tuple(data.get("history") or ()),
        last_inbound_ms=data.get("last_inbound_ms"),
        read_watermark_ms=data.get("read_watermark_ms"),
        delivery_watermark_ms=data.get("delivery_watermark_ms"),
        seen=data.get("seen") or {},
        recent_replies_ms=tuple(data.get("recent") or ()),
    )


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
