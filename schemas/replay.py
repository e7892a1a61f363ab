"""A replay's plan: per partition where the group was, where it resumes, where the range stops.

Recorded by `hookstream replay --execute` on the compacted `replay-bounds` topic (key = group),
read back by every consumer that honors bounded replays.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson


@dataclass(frozen=True)
class PartitionPlan:
    partition: int
    current: int | None  # the group's committed offset (None: never committed)
    target: int  # where the group will resume
    stop: int  # where the replayed range ends (exclusive)
    end: int  # the partition's end offset when planned

    @property
    def records(self) -> int:
        return max(0, self.stop - self.target)


@dataclass(frozen=True)
class ReplayPlan:
    group: str
    topic: str
    partitions: tuple[PartitionPlan, ...]
    bounded: bool  # True when `--to` was given: consumers honoring the bound stop at `stop`

    @property
    def records(self) -> int:
        return sum(p.records for p in self.partitions)


def encode_plan(plan: ReplayPlan, created_at_ms: int) -> bytes:
    return orjson.dumps(
        {
            "schema_version": 1,
            "group": plan.group,
            "topic": plan.topic,
            "bounded": plan.bounded,
            "created_at_ms": created_at_ms,
            "partitions": [
                {
                    "partition": p.partition,
                    "current": p.current,
                    "target": p.target,
                    "stop": p.stop,
                    "end": p.end,
                }
                for p in plan.partitions
            ],
        }
    )


def decode_plan(value: bytes) -> ReplayPlan:
    data = orjson.loads(value)
    parts = tuple(
        PartitionPlan(p["partition"], p["current"], p["target"], p["stop"], p["end"])
        for p in data["partitions"]
    )
    return ReplayPlan(data["group"], data["topic"], parts, bool(data["bounded"]))
