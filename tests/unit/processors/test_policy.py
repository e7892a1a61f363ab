from __future__ import annotations

import pytest

from processors.policy import WINDOW_MS, Delivery, delivery_for, rate_limit

MIN = 60_000


def test_rate_limit_allows_up_to_the_limit_then_refuses() -> None:
    recent: tuple[int, ...] = ()
    for i in range(3):
        decision = rate_limit(recent, 1000 + i, limit=3, window_ms=MIN)
        assert decision.allowed
        recent = decision.recent_ms
    refused = rate_limit(recent, 1003, limit=3, window_ms=MIN)
    assert not refused.allowed and refused.recent_ms == recent  # a refusal is not counted


def test_rate_limit_window_slides_exactly_at_its_edge() -> None:
    recent = (1000, 2000, 3000)
    assert not rate_limit(recent, 1000 + MIN - 1, limit=3, window_ms=MIN).allowed
    at_edge = rate_limit(recent, 1000 + MIN, limit=3, window_ms=MIN)
    assert at_edge.allowed and at_edge.recent_ms == (2000, 3000, 1000 + MIN)


def test_rate_limit_of_zero_refuses_everything() -> None:
    assert not rate_limit((), 5, limit=0, window_ms=MIN).allowed


@pytest.mark.parametrize(
    ("age_ms", "expected"),
    [
        (0, Delivery("RESPONSE")),
        (WINDOW_MS - 1, Delivery("RESPONSE")),
        (WINDOW_MS, None),
        (WINDOW_MS + 1, None),
    ],
)
def test_window_edge_without_tag(age_ms: int, expected: Delivery | None) -> None:
    now = 10 * WINDOW_MS
    assert delivery_for(now - age_ms, now, None) == expected


def test_outside_the_window_a_configured_tag_is_used() -> None:
    now = 10 * WINDOW_MS
    assert delivery_for(now - WINDOW_MS, now, "HUMAN_AGENT") == Delivery(
        "MESSAGE_TAG", "HUMAN_AGENT"
    )
    assert delivery_for(None, now, "HUMAN_AGENT") == Delivery("MESSAGE_TAG", "HUMAN_AGENT")
    assert delivery_for(None, now, None) is None
