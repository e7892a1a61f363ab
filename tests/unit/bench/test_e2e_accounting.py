"""The end-to-end bench's pure accounting: CPU per 1,000 events, lost ids, the step test's
verdict, soak drift, backlog throughput, lag sums, sandbox tags, profile tops."""

from __future__ import annotations

import pytest

from bench.e2e.figures import (
    Sample,
    Step,
    cpu_per_1000,
    drift_pct,
    highest_held,
    lost,
    throughput,
)
from bench.e2e.probe import SandboxCounter, duplicates, group_lag, tag_of
from bench.e2e.profile import top


def test_cpu_per_1000_events_uses_the_samples_nearest_the_window() -> None:
    samples = [Sample(0, 50, 1.0), Sample(10, 50, 3.0), Sample(20, 50, 6.0), Sample(30, 50, 9.0)]
    assert cpu_per_1000(samples, 5, 25, 10_000) == pytest.approx(0.3)  # 3 s for 10k events
    assert cpu_per_1000(samples, 0, 30, 4000) == pytest.approx(2.0)
    assert cpu_per_1000(samples, 0, 30, 0) is None
    assert cpu_per_1000(samples[:1], 0, 30, 10) is None


def test_lost_is_acknowledged_but_not_on_inbound() -> None:
    assert lost(["a", "b", "c", "b"], ["c", "a", "x"]) == ["b"]
    assert lost([], ["a"]) == []


def test_the_highest_rate_held_is_the_last_before_the_first_failure() -> None:
    steps = [
        Step(1000, 120.0, 1.0, True),
        Step(2000, 900.0, 0.99, True),
        Step(3000, 2500.0, 0.7, True),  # p95 past 2 s
        Step(4000, 100.0, 1.0, True),  # never reached after a failure
    ]
    assert highest_held(steps) == 2000
    assert not Step(1000, 100.0, 1.0, drained=False).held  # not drained: did not hold
    assert not Step(1000, None, None, True).held
    assert highest_held([Step(500, 3000.0, 0.5, True)]) is None


def test_drift_in_percent_of_the_first_value() -> None:
    assert drift_pct(100.0, 120.0) == pytest.approx(20.0)
    assert drift_pct(200.0, 150.0) == pytest.approx(-25.0)
    assert drift_pct(None, 1.0) is None
    assert drift_pct(0.0, 1.0) is None


def test_backlog_throughput_from_the_first_drop_to_zero() -> None:
    # joins for 4 s (lag flat), then works off 1,000/s, then stays at 0
    series = [(0.0, 4000), (2.0, 4000), (4.0, 4000), (5.0, 3000), (6.0, 2000), (8.0, 0), (9.0, 0)]
    assert throughput(series) == pytest.approx(1000.0)
    assert throughput([(0.0, 10), (1.0, 10)]) is None  # never moved
    assert throughput([]) is None
    assert throughput([(0.0, 100), (2.0, 50)]) == pytest.approx(25.0)  # not yet at 0: so far


def test_group_lag_sums_committed_partitions_only() -> None:
    committed = {("t", 0): 5, ("t", 1): None, ("t", 2): 12}
    ends = {("t", 0): 10, ("t", 1): 7, ("t", 2): 10}
    assert group_lag(committed, ends) == 5  # a commit past the end counts 0, none counts 0


def test_sandbox_tags_count_replies_and_find_the_ones_sent_twice() -> None:
    assert tag_of("hookstream:cmd_abc:0") == "cmd_abc:0"
    assert tag_of("something else") is None
    assert tag_of(None) is None
    counter = SandboxCounter(3.0, base_url="http://unused")
    counter.add(
        [
            {"seq": 1, "message_id": "m1", "metadata": "hookstream:c1:0"},
            {"seq": 2, "message_id": "m2", "metadata": "hookstream:c2:0"},
            {"seq": 3, "message_id": "", "metadata": None},  # typing_on: no message
            {"seq": 4, "message_id": "m4", "metadata": "hookstream:c1:0"},
            {"seq": 5, "message_id": "m5", "metadata": None},
        ]
    )
    assert counter.seen_seq == 5
    assert duplicates(counter.counts) == {"c1:0": 2}
    figures = counter.figures()
    assert figures["replies_delivered_distinct"] == 2
    assert figures["replies_sent_twice"] == 1
    assert figures["messages_accepted"] == 4
    assert figures["untagged"] == 1


def test_profile_top_counts_self_and_inclusive_shares() -> None:
    lines = [
        "<module> (app.py:1);run (loop.py:10);decode (codec.py:5) 30",
        "<module> (app.py:1);run (loop.py:11);encode (codec.py:9) 10",
        "<module> (app.py:1);run (loop.py:10) 60",
        "garbage line",
    ]
    found = top(lines, n=3)
    assert found["samples"] == 100
    assert found["self_pct"] == [
        ("run (loop.py)", 60.0),
        ("decode (codec.py)", 30.0),
        ("encode (codec.py)", 10.0),
    ]
    assert dict(found["inclusive_pct"])["run (loop.py)"] == 100.0


def test_profile_inclusive_shares_of_the_projects_own_code() -> None:
    lines = [
        "<module> (app.py:1);run (asyncio/runners.py:10);check (sinks/writer.py:5) 30",
        "<module> (app.py:1);run (asyncio/runners.py:10) 70",
    ]
    assert top(lines)["inclusive_project_pct"] == [("check (sinks/writer.py)", 30.0)]
