"""Lag figures and Burrow-style status rules."""

from __future__ import annotations

from hookstream.ops.collect import GroupInfo, Snapshot
from hookstream.ops.lag import messages_behind, partition_lag, seconds_behind, sums
from hookstream.ops.status import Sample, Status, group_status, partition_status, window
from hookstream.ops.tracker import StatusTracker


def test_messages_behind() -> None:
    assert messages_behind(2, 6) == 4
    assert messages_behind(6, 6) == 0
    assert messages_behind(None, 6, beginning=1) == 5
    assert messages_behind(9, 6) == 0  # never negative (end offsets may lag behind)


def test_seconds_behind_is_the_age_of_the_oldest_unconsumed_record() -> None:
    assert seconds_behind(3, 10_000, 12_500) == 2.5
    assert seconds_behind(0, 10_000, 12_500) == 0.0
    assert seconds_behind(3, None, 12_500) == 0.0
    assert seconds_behind(3, 13_000, 12_500) == 0.0  # clock skew is not negative age


def test_sums_per_group_and_topic() -> None:
    rows = [partition_lag("g", "t", p, c, 10, 1000, 5000) for p, c in ((0, 4), (1, 10), (2, 7))]
    rows.append(partition_lag("h", "t", 0, 0, 10, 3000, 5000))
    totals = {(s.group, s.topic): (s.lag, s.lag_seconds) for s in sums(rows)}
    assert totals == {("g", "t"): (9, 4.0), ("h", "t"): (10, 2.0)}


def samples(*points: tuple[float, int, int]) -> list[Sample]:
    return [Sample(at, committed, lag) for at, committed, lag in points]


def test_status_ok_without_lag_or_before_the_window_is_full() -> None:
    assert partition_status(samples((0, 5, 0), (60, 5, 0)), 60, True) is Status.OK
    assert partition_status(samples((0, 5, 3), (30, 5, 3)), 60, False) is Status.OK
    assert partition_status([], 60, True) is Status.OK


def test_status_stall_and_stop_when_offsets_do_not_move_with_lag() -> None:
    stuck = samples((0, 5, 3), (30, 5, 4), (60, 5, 6))
    assert partition_status(stuck, 60, has_members=True) is Status.STALL
    assert partition_status(stuck, 60, has_members=False) is Status.STOP


def test_status_warn_when_lag_grows_every_interval_while_offsets_advance() -> None:
    growing = samples((0, 5, 3), (30, 6, 5), (60, 8, 9))
    assert partition_status(growing, 60, True) is Status.WARN
    keeping_up = samples((0, 5, 3), (30, 9, 5), (60, 14, 2))
    assert partition_status(keeping_up, 60, True) is Status.OK


def test_window_keeps_the_sample_just_before_it() -> None:
    points = samples((0, 1, 1), (10, 2, 1), (50, 3, 1), (70, 4, 1))
    assert [s.at_s for s in window(points, 70, 30)] == [10, 50, 70]


def test_group_status_is_the_worst_partition() -> None:
    assert group_status([Status.OK, Status.STALL, Status.WARN]) is Status.STALL
    assert group_status([]) is Status.OK


def snapshot(at_s: float, committed: int, end: int, members: int) -> Snapshot:
    row = partition_lag("g", "t", 0, committed, end, None, int(at_s * 1000))
    state = "Stable" if members else "Empty"
    return Snapshot(int(at_s * 1000), (row,), (GroupInfo("g", state, members),), (("t", 0, end),))


def test_tracker_goes_to_stop_and_back_to_ok() -> None:
    tracker = StatusTracker(window_s=20)
    assert tracker.observe(snapshot(0, 5, 8, 0)) == {"g": Status.OK}
    assert tracker.observe(snapshot(10, 5, 9, 0)) == {"g": Status.OK}
    assert tracker.observe(snapshot(20, 5, 10, 0)) == {"g": Status.STOP}
    assert tracker.observe(snapshot(30, 10, 10, 1)) == {"g": Status.OK}
