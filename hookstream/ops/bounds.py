"""Replay bounds: the stop offsets of a bounded replay, and the gate consumers use to honor them.

`hookstream replay --execute` records each replay on the compacted `replay-bounds` topic (key =
group): the topic, per partition the target and the stop offset, and whether the stop is a bound
(`--to`). A consumer honoring bounds loads its group's bound at start and asks the gate, per
record, whether to process it; at the stop offset of every partition its replay is done.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from hookstream.ops.replay import PartitionPlan, ReplayPlan

BOUNDS_TOPIC = "replay-bounds"  # after the prefix; compacted, key = group id


def encode_plan(plan: ReplayPlan, created_at_ms: int) -> bytes:
    return orjson.dumps({
        "schema_version": 1, "group": plan.group, "topic": plan.topic, "bounded": plan.bounded,
        "created_at_ms": created_at_ms,
        "partitions": [{"partition": p.partition, "current": p.current, "target": p.target,
                        "stop": p.stop, "end": p.end} for p in plan.partitions],
    })


def decode_plan(value: bytes) -> ReplayPlan:
    data = orjson.loads(value)
    parts = tuple(PartitionPlan(p["partition"], p["current"], p["target"], p["stop"], p["end"])
                  for p in data["partitions"])
    return ReplayPlan(data["group"], data["topic"], parts, bool(data["bounded"]))


@dataclass(frozen=True)
class Bound:
    stop: int  # the replayed range ends here (exclusive)
    resume: int | None  # where the group was before the replay; None: a fresh group


@dataclass(frozen=True)
class Decision:
    process: bool
    seek_to: int | None = None  # skip the rest of the range up to where the group was
    pause: bool = False  # a fresh group's bounded replay is done on this partition


PROCESS = Decision(True)


@dataclass(frozen=True)
class StopGate:
    """What a consumer honoring a bounded replay does with the record at `offset`.

    Below the stop: process it. From the stop up to where the group was before the replay: skip
    to there (the group "stops" at the bound and carries on as before). A fresh group (no
    previous position) pauses the partition at the stop. Safe across restarts: past the old
    position the bound no longer applies.
    """

    bounds: Mapping[tuple[str, int], Bound]

    @classmethod
    def of(cls, plan: ReplayPlan | None) -> StopGate:
        if plan is None or not plan.bounded:
            return cls({})
        return cls({(plan.topic, p.partition): Bound(p.stop, p.current)
                    for p in plan.partitions})

    def decide(self, topic: str, partition: int, offset: int) -> Decision:
        bound = self.bounds.get((topic, partition))
        if bound is None or offset < bound.stop:
            return PROCESS
        if bound.resume is None:
            return Decision(False, pause=True)
        if offset < bound.resume:
            return Decision(False, seek_to=bound.resume)
        return PROCESS

    def finished(self, positions: Mapping[tuple[str, int], int]) -> bool:
        """True when every bounded partition's position reached its stop."""
        return bool(self.bounds) and all(
            positions.get(key, -1) >= bound.stop for key, bound in self.bounds.items())
