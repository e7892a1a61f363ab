"""Which offset of a partition may be committed: the first one not finished yet. Pure.

Records of one partition finish out of order (different conversations run in parallel), so the
committable position only moves past a record once it and every record before it finished.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class PartitionOffsets:
    pending: deque[int] = field(default_factory=deque)  # dispatched, in offset order
    done: set[int] = field(default_factory=set)
    committable: int | None = None  # next offset to commit (Kafka's "position" semantics)

    def started(self, offset: int) -> None:
        self.pending.append(offset)

    def finished(self, offset: int) -> None:
        self.done.add(offset)
        while self.pending and self.pending[0] in self.done:
            head = self.pending.popleft()
            self.done.discard(head)
            self.committable = head + 1

    @property
    def in_flight(self) -> int:
        return len(self.pending)


@dataclass
class OffsetBook:
    """PartitionOffsets per (topic, partition) key, and what changed since the last commit."""

    partitions: dict[object, PartitionOffsets] = field(default_factory=dict)
    committed: dict[object, int] = field(default_factory=dict)

    def get(self, tp: object) -> PartitionOffsets:
        return self.partitions.setdefault(tp, PartitionOffsets())

    def to_commit(self) -> dict[object, int]:
        ready = {}
        for tp, offsets in self.partitions.items():
            if offsets.committable is not None and offsets.committable != self.committed.get(tp):
                ready[tp] = offsets.committable
        return ready

    def mark_committed(self, offsets: dict[object, int]) -> None:
        self.committed.update(offsets)

    def forget(self, tp: object) -> None:
        self.partitions.pop(tp, None)
        self.committed.pop(tp, None)
