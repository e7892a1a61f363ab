from __future__ import annotations

from senders.pacing import PageBucket


def test_bucket_allows_its_rate_and_then_asks_to_wait() -> None:
    bucket = PageBucket(max_rate=100.0, updated=0.0)
    waits = [bucket.reserve(10.0) for _ in range(30)]
    assert waits[0] == 0.0
    assert waits[-1] > 0.1  # 30 calls at once: the last waits ~0.2 s
    assert abs(waits[-1] - waits[-2] - 0.01) < 1e-9


def test_throttling_halves_the_rate_pauses_and_recovers() -> None:
    bucket = PageBucket(max_rate=250.0, updated=0.0)
    bucket.throttled(1.0, pause_s=2.0)
    assert bucket.rate == 125.0
    assert bucket.reserve(1.5) >= 1.5  # paused until 3.0
    bucket.throttled(1.2, pause_s=0.1)  # same burst: not halved again
    assert bucket.rate == 125.0
    bucket.throttled(2.0, pause_s=0.1)
    assert bucket.rate == 62.5
    assert bucket.refresh(2.5) == 62.5  # no recovery within a second of a throttle
    assert 62.5 < bucket.refresh(4.0) < 250.0
    assert bucket.refresh(60.0) == 250.0


def test_rate_never_below_the_minimum() -> None:
    bucket = PageBucket(max_rate=10.0, min_rate=1.0)
    for second in range(20):
        bucket.throttled(float(second), 0.0)
    assert bucket.rate == 1.0


def test_usage_headers_slow_down_before_meta_refuses() -> None:
    bucket = PageBucket(max_rate=200.0)
    bucket.usage(1.0, 50.0)
    assert bucket.rate == 200.0
    bucket.usage(1.0, 90.0)
    assert bucket.rate == 100.0
    bucket.usage(1.0, 99.0)
    assert bucket.rate == 50.0 and bucket.paused_until == 2.0


def test_a_pause_holds_the_page_without_slowing_it() -> None:
    bucket = PageBucket(max_rate=100.0, updated=0.0)
    bucket.pause(10.0, 3.0)
    assert bucket.reserve(10.0) >= 3.0
    assert bucket.rate == 100.0
    bucket.pause(10.5, 1.0)  # a shorter pause never shortens the one in force
    assert bucket.paused_until == 13.0
