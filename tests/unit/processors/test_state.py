from __future__ import annotations

from dataclasses import replace

from processors.normalize import normalize
from processors.state import (
    ConversationState,
    apply_message,
    decode_state,
    dedupe_key,
    is_duplicate,
    remember,
)
from tests.support.meta_samples import MESSENGER
from tests.support.processors_unit import T0, messaging, text_message

DAY = 24 * 3600 * 1000


def test_dedupe_key_is_the_event_id_which_is_stable_across_redeliveries() -> None:
    first = text_message("m1", "hi", received_at_ms=T0)
    again = text_message("m1", "hi", received_at_ms=T0 + 5000)
    assert dedupe_key(first.event_id) == dedupe_key(again.event_id) == "message:m1"
    read = normalize(messaging(next(s[1] for s in MESSENGER if s[0] == "read")))
    assert dedupe_key(read.event_id).startswith("read:2002:")


def test_duplicate_only_within_the_window() -> None:
    state = replace(ConversationState(), seen=remember(ConversationState(), "e1", T0, DAY, 10))
    assert is_duplicate(state, "e1", T0 + DAY - 1, DAY)
    assert not is_duplicate(state, "e1", T0 + DAY, DAY)
    assert not is_duplicate(state, "e2", T0, DAY)


def test_remember_drops_expired_and_keeps_the_newest_up_to_max() -> None:
    state = replace(ConversationState(), seen={"old": T0 - DAY, "a": T0 + 1, "b": T0 + 2})
    assert remember(state, "c", T0 + 3, DAY, 10) == {"a": T0 + 1, "b": T0 + 2, "c": T0 + 3}
    assert remember(state, "c", T0 + 3, DAY, 2) == {"b": T0 + 2, "c": T0 + 3}


def test_history_keeps_the_last_n_messages() -> None:
    state = ConversationState()
    for i in range(5):
        state = apply_message(state, text_message(f"m{i}", f"t{i}", at_ms=T0 + i), 3)
    assert [h["text"] for h in state.history] == ["t2", "t3", "t4"]
    assert state.last_inbound_ms == T0 + 4


def test_window_opens_on_user_messages_not_on_echoes_reads_or_reactions() -> None:
    state = ConversationState()
    for name in ("echo", "read", "reaction", "delivery"):
        event = next(s[1] for s in MESSENGER if s[0] == name)
        state = apply_message(state, normalize(messaging(event)), 50)
    assert state.last_inbound_ms is None
    assert state.read_watermark_ms is not None and state.delivery_watermark_ms is not None


def test_watermarks_only_move_forward() -> None:
    read = normalize(
        messaging(
            {
                "sender": {"id": "2002"},
                "recipient": {"id": "1001"},
                "timestamp": T0,
                "read": {"watermark": T0},
            }
        )
    )
    older = replace(read, watermark_ms=T0 - 10)
    state = apply_message(apply_message(ConversationState(), read, 5), older, 5)
    assert state.read_watermark_ms == T0


def test_state_round_trips_and_bad_state_starts_fresh() -> None:
    state = apply_message(ConversationState(), text_message("m1", "hi"), 5)
    state = replace(state, seen={"message:m1": T0}, recent_replies_ms=(T0,))
    assert decode_state(state.encode()) == state
    assert decode_state(b"not json") == ConversationState()
    assert decode_state(None) == ConversationState()
