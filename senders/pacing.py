"""Pacing decisions: per-page token bucket that shrinks on throttling and recovers, and pauses
when Meta asks for them (the backoff of retries is in senders/retry.py). Pure: time is passed in."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class PageBucket:
    """Token bucket for one page. `rate` moves between `min_rate` and `max_rate`:
    halved on every throttling answer, and grows back by `recover_per_s` of max_rate per second
    without throttling. `paused_until` holds all sends (throttle retry-after, usage near 100 %)."""

    max_rate: float
    rate: float = 0.0
    min_rate: float = 1.0
    recover_per_s: float = 0.1
    tokens: float = 1.0
    updated: float = 0.0
    paused_until: float = 0.0
    throttled_at: float = -1e18

    def __post_init__(self) -> None:
        self.rate = self.rate or self.max_rate
        self.min_rate = min(self.min_rate, self.max_rate)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        if self.rate < self.max_rate and now - self.throttled_at > 1.0:
            self.rate = min(self.max_rate, self.rate + self.max_rate * self.recover_per_s * elapsed)
        burst = max(1.0, self.rate / 10)
        self.tokens = min(burst, self.tokens + elapsed * self.rate)
        self.updated = now

    def refresh(self, now: float | None = None) -> float:
        """Bring the bucket up to `now` (default: the monotonic clock); return the rate."""
        self._refill(time.monotonic() if now is None else now)
        return self.rate

    def reserve(self, now: float) -> float:
        """Take a token; return how long to wait before sending (0 when at once)."""
        self._refill(now)
        wait = max(0.0, self.paused_until - now)
        self.tokens -= 1.0
        if self.tokens < 0:
            wait = max(wait, -self.tokens / self.rate)
        return wait

    def throttled(self, now: float, pause_s: float) -> None:
        self._refill(now)
        if now - self.throttled_at > 0.5:  # one burst of errors halves the rate once
            self.rate = max(self.min_rate, self.rate / 2)
        self.throttled_at = now
        self.tokens = min(self.tokens, 0.0)
        self.paused_until = max(self.paused_until, now + pause_s)

    def pause(self, now: float, pause_s: float) -> None:
        """Hold every send of the page for `pause_s` (Meta's Retry-After), rate unchanged."""
        self.paused_until = max(self.paused_until, now + pause_s)

    def usage(self, now: float, percent: float) -> None:
        """Meta's usage headers: slow down before Meta starts refusing."""
        if percent >= 95:
            self.throttled(now, 1.0)
        elif percent >= 80:
            self._refill(now)
            self.rate = max(self.min_rate, min(self.rate, self.max_rate * (100 - percent) / 20))
