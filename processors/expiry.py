"""Expiry of idle conversations: which states to drop, decided from the state alone.

A conversation's last activity is the latest time its state carries (the ids seen within the
dedupe window are stamped with the time they were processed, the rate limiter's recent times,
the user's last inbound message and the read/delivery watermarks). A state idle for longer
than the TTL is dropped: deleted from the table and a tombstone written to the changelog, so
neither the local store nor a recovery from the changelog brings it back.

The sweep is incremental: each run looks at a bounded number of stored states (from where
the previous run stopped), so its cost per run does not grow with the number of
conversations, and the hot path (a batch) never pays for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeGuard

import orjson

from processors.state import STATE_VERSION, ConversationState
from schemas.timestamps import MAX_EPOCH_MS

SWEEP_EVERY_S = 2.0  # how often a sweep runs
# States looked at per run: a pass over 500k states in ~67 min, far inside any TTL worth having
# (30 days by default), for ~0.1% of a core (the sweep's decision is ~7 us per state; at 1,000
# per run it was 2.7% of the processors' samples in a profile under load).
SWEEP_KEYS = 250


def last_activity_ms(state: ConversationState) -> int | None:
    """The latest time the state carries, or None for a state that carries none."""
    times = [
        *state.seen.values(),
        *state.recent_replies_ms,
        *(
            t
            for t in (
                state.last_inbound_ms,
                state.read_watermark_ms,
                state.delivery_watermark_ms,
            )
            if t is not None
        ),
    ]
    return max(times) if times else None


def is_expired(state: ConversationState, now_ms: int, ttl_ms: int) -> bool:
    """Idle for at least `ttl_ms` (0 or less: never). A state without any time carries
    nothing worth keeping (a fresh or unreadable one) and is expired too."""
    if ttl_ms <= 0:
        return False
    last = last_activity_ms(state)
    return last is None or now_ms - last >= ttl_ms


def _ms(value: object) -> TypeGuard[int]:
    return type(value) is int and 0 <= value <= MAX_EPOCH_MS


def stored_last_activity_ms(payload: bytes | None) -> int | None:
    """`last_activity_ms(decode_state(payload))` without building the state: only the fields
    that carry times are read, with the decoder's rules (a value of the wrong shape or out of
    range is left out; an unreadable or other-version state carries none). The sweep runs this
    for every stored state; the history, most of a state, is never looked at."""
    if not payload:
        return None
    try:
        data: Any = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("v") != STATE_VERSION:
        return None
    seen, recent = data.get("seen"), data.get("recent")
    times: list[int] = [
        t
        for t in (
            data.get("last_inbound_ms"),
            data.get("read_watermark_ms"),
            data.get("delivery_watermark_ms"),
        )
        if _ms(t)
    ]
    if isinstance(seen, dict) and seen:
        times += [t for t in seen.values() if _ms(t)]
    if isinstance(recent, list) and recent:
        times += [t for t in recent if _ms(t)]
    return max(times) if times else None


def expired_payload(payload: bytes | None, now_ms: int, ttl_ms: int) -> bool:
    """The decision for a stored (encoded) state (as `is_expired` of the decoded state)."""
    if ttl_ms <= 0:
        return False
    last = stored_last_activity_ms(payload)
    return last is None or now_ms - last >= ttl_ms


def expired_keys(
    entries: Iterable[tuple[bytes, bytes | None, int | None]], now_ms: int, ttl_ms: int
) -> list[tuple[bytes, int | None]]:
    """(key, partition) of every expired entry among (key, stored state, partition)."""
    return [
        (key, partition)
        for key, payload, partition in entries
        if expired_payload(payload, now_ms, ttl_ms)
    ]


class Sweeper:
    """One bounded step of the sweep per call: `scan(limit)` gives the next stored entries
    (resuming where it stopped, wrapping around), `drop(key, partition)` deletes one."""

    def __init__(
        self,
        scan: Callable[[int], list[tuple[bytes, bytes | None, int | None]]],
        drop: Callable[[bytes, int | None], None],
        ttl_ms: int,
        limit: int = SWEEP_KEYS,
    ) -> None:
        self.scan, self.drop, self.ttl_ms, self.limit = scan, drop, ttl_ms, limit
        self.expired = 0

    def step(self, now_ms: int) -> int:
        if self.ttl_ms <= 0:
            return 0
        dropped = expired_keys(self.scan(self.limit), now_ms, self.ttl_ms)
        for key, partition in dropped:
            self.drop(key, partition)
        self.expired += len(dropped)
        return len(dropped)
