"""Keeps the recent samples of every (group, topic, partition) and judges the group status."""

from __future__ import annotations

from dataclasses import dataclass, field

from hookstream.ops.collect import Snapshot
from hookstream.ops.status import Sample, Status, group_status, partition_status, trim

EMPTY_STATES = frozenset({"Empty", "Dead"})


@dataclass
class StatusTracker:
    window_s: float
    samples: dict[tuple[str, str, int], list[Sample]] = field(default_factory=dict)

    def observe(self, snapshot: Snapshot) -> dict[str, Status]:
        now_s = snapshot.at_ms / 1000.0
        seen = set()
        for row in snapshot.rows:
            key = (row.group, row.topic, row.partition)
            seen.add(key)
            kept = trim(self.samples.get(key, []), now_s, self.window_s)
            self.samples[key] = [*kept, Sample(now_s, row.committed, row.lag)]
        self.samples = {k: v for k, v in self.samples.items() if k in seen}
        live = {g.group: g.members > 0 and g.state not in EMPTY_STATES for g in snapshot.groups}
        statuses: dict[str, list[Status]] = {}
        for (group, _topic, _partition), samples in self.samples.items():
            status = partition_status(samples, self.window_s, live.get(group, False))
            statuses.setdefault(group, []).append(status)
        return {g: group_status(s) for g, s in sorted(statuses.items())}
