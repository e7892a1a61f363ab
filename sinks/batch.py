"""Pure batching: which rows go into ClickHouse together, when, and which offsets that commits.

A batch flushes when it holds `max_rows` rows or its oldest record is `max_age_s` old, whichever
comes first. It remembers, per topic-partition, the offset range it covers: that range is both
what gets committed after ClickHouse accepted the batch and part of the insert deduplication
token, so a retried insert of the same rows is recognised by ClickHouse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from sinks.rows import Row


@dataclass(frozen=True)
class BatchPolicy:
    max_rows: int = 10_000
    max_age_s: float = 1.0

    def due(self, rows: int, age_s: float) -> bool:
        return rows >= self.max_rows or (rows > 0 and age_s >= self.max_age_s)

    def wait_s(self, rows: int, age_s: float) -> float:
        """How long the consumer may wait for more records before the batch is due."""
        if rows == 0:
            return self.max_age_s
        return max(self.max_age_s - age_s, 0.0)


class Source(NamedTuple):  # a tuple: built once per record on the hot path
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Malformed:
    source: Source
    reason: str
    error: str


@dataclass
class Batch:
    started_at: float | None = None
    rows: list[tuple[Row, Source]] = field(default_factory=list)
    malformed: list[Malformed] = field(default_factory=list)
    ranges: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows) + len(self.malformed)

    def age_s(self, now: float) -> float:
        return 0.0 if self.started_at is None else now - self.started_at

    def _saw(self, source: Source, now: float) -> None:
        if self.started_at is None:
            self.started_at = now
        tp, offset = (source.topic, source.partition), source.offset
        known = self.ranges.get(tp)
        if known is None:
            self.ranges[tp] = (offset, offset)
        elif offset > known[1] or offset < known[0]:
            self.ranges[tp] = (min(known[0], offset), max(known[1], offset))

    def add_row(self, row: Row, source: Source, now: float) -> None:
        self._saw(source, now)
        self.rows.append((row, source))

    def skip(self, source: Source, now: float) -> None:
        """A record acknowledged unprocessed (past a replay's bound): committed, not written."""
        self._saw(source, now)

    def add_malformed(self, item: Malformed, now: float) -> None:
        self._saw(item.source, now)
        self.malformed.append(item)

    def by_table(self) -> dict[str, list[tuple[Row, Source]]]:
        """Rows per table, each fact id once (the first occurrence wins)."""
        seen: set[str] = set()
        tables: dict[str, list[tuple[Row, Source]]] = {}
        for row, source in self.rows:
            if row.fact_id not in seen:
                seen.add(row.fact_id)
                tables.setdefault(row.table, []).append((row, source))
        return tables

    def commit_offsets(self) -> dict[tuple[str, int], int]:
        """Next offset to consume per topic-partition (Kafka commits the *next* offset)."""
        return {tp: last + 1 for tp, (_, last) in self.ranges.items()}


def dedup_token(table: str, ranges: dict[tuple[str, int], tuple[int, int]],
                fact_ids: Iterable[str]) -> str:
    """Insert deduplication token: the table, the offset ranges, and a digest of the exact rows,
    so the same rows retried get the same token and different rows never share one."""
    span = ",".join(f"{t}:{p}:{a}-{b}" for (t, p), (a, b) in sorted(ranges.items()))
    digest = hashlib.blake2b("\x1f".join(fact_ids).encode(), digest_size=12).hexdigest()
    return f"{table}|{span}|{digest}"
