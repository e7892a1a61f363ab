"""Lag figures of one consumer group on one partition, as plain values.

Lag in messages is `end - committed`. Lag in seconds is the age of the oldest record the group has
not consumed yet (the record at the committed offset), 0 when the group is caught up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int | None  # None: the group never committed on this partition
    end: int
    lag: int
    lag_seconds: float


@dataclass(frozen=True)
class GroupLagSum:
    group: str
    topic: str
    lag: int
    lag_seconds: float  # the oldest unconsumed record over the topic's partitions


def messages_behind(committed: int | None, end: int, beginning: int = 0) -> int:
    """Records the group still has to read; a group without a commit starts at `beginning`."""
    start = beginning if committed is None else committed
    return max(0, end - start)


def seconds_behind(lag: int, oldest_ts_ms: int | None, now_ms: int) -> float:
    """Age of the oldest unconsumed record; 0 when nothing is behind or the time is unknown."""
    if lag <= 0 or oldest_ts_ms is None or oldest_ts_ms < 0:
        return 0.0
    return max(0.0, (now_ms - oldest_ts_ms) / 1000.0)


def partition_lag(
    group: str,
    topic: str,
    partition: int,
    committed: int | None,
    end: int,
    oldest_ts_ms: int | None,
    now_ms: int,
    beginning: int = 0,
) -> PartitionLag:
    lag = messages_behind(committed, end, beginning)
    return PartitionLag(
        group, topic, partition, committed, end, lag, seconds_behind(lag, oldest_ts_ms, now_ms)
    )


def sums(rows: Iterable[PartitionLag]) -> list[GroupLagSum]:
    """Per group and topic: total lag and the worst lag in seconds."""
    totals: dict[tuple[str, str], tuple[int, float]] = {}
    for row in rows:
        lag, seconds = totals.get((row.group, row.topic), (0, 0.0))
        totals[(row.group, row.topic)] = (lag + row.lag, max(seconds, row.lag_seconds))
    return [GroupLagSum(g, t, lag, s) for (g, t), (lag, s) in sorted(totals.items())]
