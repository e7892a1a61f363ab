"""Reply policies as pure functions: the per page+user rate limit and Meta's 24-hour window."""

from __future__ import annotations

from dataclasses import dataclass

WINDOW_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    recent_ms: tuple[int, ...]  # the limiter's log after this decision


def rate_limit(recent_ms: tuple[int, ...], now_ms: int, limit: int, window_ms: int) -> RateDecision:
    """Sliding-window log: at most `limit` counted messages in any `window_ms`.

    Times at or before now - window have left the window. A refused message is not counted.
    """
    recent = tuple(t for t in recent_ms if t > now_ms - window_ms)
    if limit <= 0 or len(recent) >= limit:
        return RateDecision(False, recent)
    return RateDecision(True, (*recent, now_ms))


@dataclass(frozen=True, slots=True)
class Delivery:
    messaging_type: str  # RESPONSE | MESSAGE_TAG
    tag: str | None = None


def delivery_for(
    last_inbound_ms: int | None,
    now_ms: int,
    outside_window_tag: str | None,
    window_ms: int = WINDOW_MS,
) -> Delivery | None:
    """RESPONSE inside the 24 h window (strictly less than 24 h since the user's last message);
    outside it MESSAGE_TAG with the page's tag, or None: no automatic reply."""
    if last_inbound_ms is not None and now_ms - last_inbound_ms < window_ms:
        return Delivery("RESPONSE")
    if outside_window_tag:
        return Delivery("MESSAGE_TAG", outside_window_tag)
    return None
