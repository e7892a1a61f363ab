from __future__ import annotations

from processors.expiry import (
    Sweeper,
    expired_keys,
    expired_payload,
    is_expired,
    last_activity_ms,
    stored_last_activity_ms,
)
from processors.state import ConversationState, decode_state

T0 = 1_700_000_000_000
DAY = 24 * 3600 * 1000
TTL = 30 * DAY


def test_last_activity_is_the_latest_time_the_state_carries() -> None:
    state = ConversationState(
        last_inbound_ms=T0,
        read_watermark_ms=T0 + 5,
        delivery_watermark_ms=T0 + 3,
        seen={"message:m1": T0 + 7, "message:m2": T0 + 2},
        recent_replies_ms=(T0 + 1,),
    )
    assert last_activity_ms(state) == T0 + 7
    assert last_activity_ms(ConversationState(recent_replies_ms=(T0 + 9,))) == T0 + 9
    assert last_activity_ms(ConversationState(delivery_watermark_ms=T0)) == T0
    assert last_activity_ms(ConversationState()) is None


def test_expired_only_once_idle_for_the_ttl() -> None:
    state = ConversationState(seen={"message:m1": T0})
    assert not is_expired(state, T0 + TTL - 1, TTL)
    assert is_expired(state, T0 + TTL, TTL)


def test_any_recent_activity_keeps_the_state() -> None:
    state = ConversationState(seen={"message:m1": T0}, read_watermark_ms=T0 + TTL // 2)
    assert not is_expired(state, T0 + TTL, TTL)


def test_a_ttl_of_zero_keeps_everything_forever() -> None:
    assert not is_expired(ConversationState(seen={"x": T0}), T0 + 1000 * TTL, 0)
    assert not is_expired(ConversationState(), T0, 0)


def test_a_state_without_any_time_carries_nothing_and_expires() -> None:
    assert is_expired(ConversationState(), T0, TTL)


def test_stored_payloads_decide_the_same_and_unreadable_ones_expire() -> None:
    fresh = ConversationState(seen={"message:m1": T0}).encode()
    assert not expired_payload(fresh, T0 + 1, TTL)
    assert expired_payload(fresh, T0 + TTL, TTL)
    assert expired_payload(b"not json", T0, TTL)
    assert expired_payload(None, T0, TTL)


def test_expired_keys_keep_the_partition_for_the_tombstone() -> None:
    old = ConversationState(seen={"a": T0}).encode()
    new = ConversationState(seen={"a": T0 + TTL}).encode()
    entries = [(b"p:old", old, 3), (b"p:new", new, 1), (b"p:mem", old, None)]
    assert expired_keys(entries, T0 + TTL, TTL) == [(b"p:old", 3), (b"p:mem", None)]


def test_a_sweep_step_looks_at_a_bounded_number_and_drops_the_expired() -> None:
    old = ConversationState(seen={"a": T0}).encode()
    new = ConversationState(seen={"a": T0 + TTL}).encode()
    stored = {f"k{i}".encode(): (old if i % 2 else new) for i in range(10)}
    asked: list[int] = []
    keys = list(stored)

    def scan(limit: int) -> list[tuple[bytes, bytes | None, int | None]]:
        asked.append(limit)
        taken, keys[:] = keys[:limit], keys[limit:]
        return [(k, stored[k], 0) for k in taken]

    dropped: list[tuple[bytes, int | None]] = []
    sweeper = Sweeper(scan, lambda k, p: dropped.append((k, p)), TTL, limit=4)
    assert sweeper.step(T0 + TTL) == 2  # k1, k3 of k0..k3
    assert sweeper.step(T0 + TTL) == 2
    assert sweeper.step(T0 + TTL) == 1
    assert asked == [4, 4, 4]
    assert dropped == [(f"k{i}".encode(), 0) for i in (1, 3, 5, 7, 9)]
    assert sweeper.expired == 5


def test_a_sweep_without_ttl_does_not_even_scan() -> None:
    def scan(limit: int) -> list[tuple[bytes, bytes | None, int | None]]:
        raise AssertionError("scanned")

    assert Sweeper(scan, lambda k, p: None, 0).step(T0) == 0


STORED = [
    None,
    b"",
    b"not json",
    b"[1, 2]",
    b'{"v": 2, "seen": {"m": 1700000000000}}',
    b'{"v": 1}',
    b'{"v": 1, "seen": {"m1": 1700000000007, "m2": "soon", "m3": -5, "m4": 1.5e12}}',
    b'{"v": 1, "seen": [1700000000000], "recent": {"a": 1700000000001}}',
    b'{"v": 1, "recent": [1700000000009, true, null, 99999999999999999]}',
    b'{"v": 1, "last_inbound_ms": 1700000000003, "read_watermark_ms": "x",'
    b' "delivery_watermark_ms": 1700000000004, "history": [{"text": "hi"}, 3]}',
    b'{"v": 1, "last_inbound_ms": true, "seen": {}, "recent": []}',
    b'{"v": 1, "seen": {"m": 253402300800000}}',  # beyond the largest epoch ms accepted
    ConversationState(
        history=({"text": "hello"},),
        last_inbound_ms=T0,
        read_watermark_ms=T0 + 5,
        seen={"message:m1": T0 + 7},
        recent_replies_ms=(T0 + 1, T0 + 2),
    ).encode(),
]


def test_the_sweeps_reading_of_a_stored_state_is_the_decoders() -> None:
    for payload in STORED:
        assert stored_last_activity_ms(payload) == last_activity_ms(decode_state(payload)), payload
        for now in (T0, T0 + TTL, T0 + 2 * TTL):
            full = is_expired(decode_state(payload), now, TTL)
            assert expired_payload(payload, now, TTL) is full, payload
            assert expired_payload(payload, now, 0) is False
