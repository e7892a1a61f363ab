"""Burrow-style consumer status over a sliding window of samples, as pure functions.

Per partition, from the samples (time, committed offset, lag) seen within the window:

- OK    nothing behind, or offsets move and lag does not keep growing
- WARN  offsets advance but lag grew over every interval of the window (falling behind)
- STALL offsets did not move for the window while lag exists and the group has live members
- STOP  offsets did not move for the window while lag exists and the group has no member left

A window is only judged once its samples span at least `window_s`; before that the status is OK.
The group's status is its worst partition's.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class Status(enum.IntEnum):
    OK = 0
    WARN = 1
    STALL = 2
    STOP = 3


@dataclass(frozen=True)
class Sample:
    at_s: float
    committed: int | None
    lag: int


def window(samples: Sequence[Sample], now_s: float, window_s: float) -> list[Sample]:
    """The samples within the window, plus the newest one before it (the window's start)."""
    inside = [s for s in samples if s.at_s >= now_s - window_s]
    before = [s for s in samples if s.at_s < now_s - window_s]
    return ([before[-1]] if before else []) + inside


def partition_status(samples: Sequence[Sample], window_s: float, has_members: bool) -> Status:
    if not samples or samples[-1].lag <= 0:
        return Status.OK
    if samples[-1].at_s - samples[0].at_s < window_s or len(samples) < 2:
        return Status.OK
    offsets = [s.committed for s in samples]
    if all(o == offsets[0] for o in offsets):
        return Status.STALL if has_members else Status.STOP
    lags = [s.lag for s in samples]
    if all(b > a for a, b in itertools.pairwise(lags)):
        return Status.WARN
    return Status.OK


def group_status(partitions: Iterable[Status]) -> Status:
    return max(partitions, default=Status.OK)


def trim(samples: list[Sample], now_s: float, window_s: float) -> list[Sample]:
    """What to keep for the next evaluation: the window and the sample just before it."""
    return window(samples, now_s, window_s)
