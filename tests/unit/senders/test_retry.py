"""The retry policy's pure core: a time budget, full jitter, Meta's waits honoured, staleness."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from senders.retry import EXHAUSTED, STALE, GiveUp, Retry, RetryPolicy

POLICY = RetryPolicy(budget_s=300.0, base_s=0.2, max_s=15.0, max_age_s=900.0)


def policies(longest_s: float, shortest_backoff_s: float) -> st.SearchStrategy[RetryPolicy]:
    return st.builds(
        RetryPolicy,
        budget_s=st.floats(0.0, longest_s),
        base_s=st.floats(shortest_backoff_s, 5.0),
        max_s=st.floats(shortest_backoff_s, 120.0),
        max_age_s=st.one_of(st.just(0.0), st.floats(0.0, 2 * longest_s)),
        max_attempts=st.one_of(st.just(0), st.integers(1, 50)),
    )


waits = st.one_of(st.just(0.0), st.floats(0.0, 4000.0))


@given(
    policies(3600.0, 0.001),
    st.integers(1, 10_000),
    st.floats(0.0, 5000.0),
    st.floats(-100.0, 9000.0),
    waits,
    st.integers(0, 2**32),
)
def test_every_step_keeps_the_promises(
    policy: RetryPolicy, attempts: int, failing: float, age: float, wait: float, seed: int
) -> None:
    step = policy.after_failure(attempts, failing, age, random.Random(seed), wait)
    if isinstance(step, GiveUp):
        assert step.reason in (EXHAUSTED, STALE)
        return
    assert isinstance(step, Retry)
    assert step.delay_s >= wait  # never sooner than Meta asked
    assert failing + step.delay_s <= policy.budget_s  # the retry happens within the budget
    assert step.delay_s <= max(policy.max_s, wait)  # the backoff's ceiling (or Meta's wait)
    assert policy.max_age_s == 0 or age + step.delay_s < policy.max_age_s  # never sent late
    assert policy.max_attempts == 0 or attempts < policy.max_attempts


@settings(deadline=None)
@given(policies(60.0, 0.01), st.integers(0, 2**32), st.floats(0.0, 0.5))
def test_a_call_that_keeps_failing_is_given_up_within_the_budget(
    policy: RetryPolicy, seed: int, call_s: float
) -> None:
    """Simulated time: each call takes `call_s`, each retry waits what the policy says."""
    rng, clock, attempts = random.Random(seed), 0.0, 0
    while True:
        clock += call_s
        attempts += 1
        step = policy.after_failure(attempts, clock, clock, rng)
        if isinstance(step, GiveUp):
            break
        clock += step.delay_s
        assert attempts < 100_000, "the policy never gave up"
    # the last call started within the budget (and before the reply became stale)
    assert clock - call_s <= policy.budget_s + 1e-9
    assert policy.max_age_s == 0 or clock - call_s < policy.max_age_s or attempts == 1


@given(st.integers(1, 200), st.integers(0, 2**32))
def test_full_jitter_under_an_exponential_ceiling(attempt: int, seed: int) -> None:
    delay = POLICY.backoff(attempt, random.Random(seed))
    ceiling = min(15.0, 0.2 * 2.0 ** min(attempt - 1, 64))
    assert min(0.1, ceiling) <= delay <= ceiling


def test_the_backoff_is_spread_out_not_fixed() -> None:
    rng = random.Random(7)
    delays = [POLICY.backoff(12, rng) for _ in range(200)]
    assert min(delays) < 3.0 and max(delays) > 12.0  # full jitter over [0.1, 15]


def test_a_two_minute_outage_fits_the_default_budget() -> None:
    rng, clock, attempts = random.Random(3), 0.0, 0
    while clock < 120.0:  # the API answers errors for two minutes
        attempts += 1
        step = POLICY.after_failure(attempts, clock, clock, rng)
        assert isinstance(step, Retry), f"gave up after {clock:.0f} s"
        clock += step.delay_s
    assert clock <= 120.0 + 15.0  # the first retry after the outage comes within max_s


def test_the_last_retry_is_placed_at_the_end_of_the_budget() -> None:
    policy = RetryPolicy(budget_s=10.0, base_s=8.0, max_s=8.0, max_age_s=0.0)
    step = policy.after_failure(5, 9.0, 9.0, random.Random(1))
    assert step == Retry(1.0)
    assert policy.after_failure(6, 10.0, 10.0, random.Random(1)) == GiveUp(EXHAUSTED)


def test_retry_after_is_honoured_or_the_budget_given_up() -> None:
    step = POLICY.after_failure(1, 0.0, 0.0, random.Random(1), wait_at_least_s=42.0)
    assert isinstance(step, Retry) and step.delay_s == 42.0
    beyond = POLICY.after_failure(1, 250.0, 250.0, random.Random(1), wait_at_least_s=60.0)
    assert beyond == GiveUp(EXHAUSTED)  # Meta will not take it before the budget ends


def test_a_reply_that_would_be_late_is_stale() -> None:
    policy = RetryPolicy(budget_s=300.0, base_s=5.0, max_s=5.0, max_age_s=60.0)
    assert policy.after_failure(1, 0.0, 58.0, random.Random(1)) == GiveUp(STALE)
    assert isinstance(policy.after_failure(1, 0.0, 10.0, random.Random(1)), Retry)
    assert policy.stale(60.0) and not policy.stale(59.9)
    assert not RetryPolicy(max_age_s=0.0).stale(10**9)  # 0: no age limit


def test_max_attempts_still_caps_when_set() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert isinstance(policy.after_failure(2, 1.0, 1.0, random.Random(1)), Retry)
    assert policy.after_failure(3, 1.0, 1.0, random.Random(1)) == GiveUp(EXHAUSTED)
