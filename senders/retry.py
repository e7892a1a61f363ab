"""When to call the Send API again after a failure, and when to give up. Pure: time and
randomness are passed in.

The budget is time, not a number of attempts: a call may keep failing (temporary errors,
throttling, timeouts, the API unreachable) for `budget_s` since its first failure, retried with
exponential backoff and full jitter, never sooner than Meta asked (`Retry-After`, the usage
headers' `estimated_time_to_regain_access`). The last retry is placed at the end of the budget.
A reply older than `max_age_s` is given up as `stale` instead of being sent late: when a retry
could only happen after that age, it is given up at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

EXHAUSTED = "retries_exhausted"
STALE = "stale"


@dataclass(frozen=True, slots=True)
class Retry:
    delay_s: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    reason: str  # EXHAUSTED | STALE


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    budget_s: float = 300.0
    base_s: float = 0.5
    max_s: float = 15.0
    max_age_s: float = 900.0  # 0: no age limit
    max_attempts: int = 0  # 0: no cap on the number of attempts (the budget decides)

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter over the exponential ceiling `min(max, base * 2**(attempt-1))`, with a
        floor of half the base so that a run of small draws cannot hammer a failing API."""
        exponent = min(max(0, attempt - 1), 64)
        ceiling = min(self.max_s, self.base_s * 2.0**exponent)
        return rng.uniform(min(self.base_s / 2, ceiling), ceiling)

    def stale(self, age_s: float) -> bool:
        """Whether a reply of this age must not be sent any more."""
        return self.max_age_s > 0 and age_s >= self.max_age_s

    def until_stale(self, age_s: float) -> float:
        """Seconds left before a reply of this age becomes stale (inf without an age limit)."""
        return self.max_age_s - age_s if self.max_age_s > 0 else float("inf")

    def after_failure(
        self,
        attempts: int,
        failing_for_s: float,
        age_s: float,
        rng: random.Random,
        wait_at_least_s: float = 0.0,
    ) -> Retry | GiveUp:
        """The next step after the `attempts`-th failed call (1 for the first failure).

        `failing_for_s`: since the call first failed; `age_s`: of the reply (since it was
        planned); `wait_at_least_s`: what Meta asked for (Retry-After, regain time), 0 if nothing.
        """
        if self.max_attempts > 0 and attempts >= self.max_attempts:
            return GiveUp(EXHAUSTED)
        left = self.budget_s - failing_for_s
        wait = max(0.0, wait_at_least_s)
        if left <= 0 or wait > left:
            return GiveUp(EXHAUSTED)  # the budget ends before Meta would take the call
        delay = min(max(self.backoff(attempts, rng), wait), left)
        if delay >= self.until_stale(age_s):
            return GiveUp(STALE)
        return Retry(delay)
