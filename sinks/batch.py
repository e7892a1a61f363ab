"""Pure batching: which rows go into ClickHouse together, when, and which records that commits.

A batch flushes when it holds `max_rows` rows or its oldest record is `max_age_s` old, whichever
comes first. It keeps what it took from each poll (marked done on the shared consumer loop once
ClickHouse accepted the batch, which then commits past it) and, per topic-partition, the offset
range it covers: part of the insert deduplication token, so a retried insert of the same rows
is recognised by ClickHouse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from hookstream.runtime.consumer import Consumed, Taken
from sinks.rows import Row, Values


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


@dataclass(frozen=True, slots=True)
class Malformed:
    source: Consumed
    reason: str
    error: str


@dataclass(slots=True)
class TableRows:
    """One table's rows in the batch, each with the record it came from."""

    values: list[Values] = field(default_factory=list)
    sources: list[Consumed] = field(default_factory=list)


@dataclass
class Batch:
    started_at: float | None = None
    tables: dict[str, TableRows] = field(default_factory=dict)
    malformed: list[Malformed] = field(default_factory=list)
    ranges: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)  # fact ids in the batch
    records: int = 0
    taken: list[Taken] = field(default_factory=list)  # what it covers of each poll, to mark done

    def __len__(self) -> int:
        return self.records

    def age_s(self, now: float) -> float:
        return 0.0 if self.started_at is None else now - self.started_at

    def cover(
        self, topic: str, partition: int, first: int, last: int, count: int, now: float
    ) -> None:
        """`count` records of one partition, offsets `first`..`last`, belong to this batch."""
        if self.started_at is None:
            self.started_at = now
        self.records += count
        tp = (topic, partition)
        known = self.ranges.get(tp)
        if known is None:
            self.ranges[tp] = (first, last)
        elif first < known[0] or last > known[1]:
            self.ranges[tp] = (min(known[0], first), max(known[1], last))

    def put(self, table: str, values: Values, source: Consumed) -> None:
        """A row of a covered record; each fact id once (the first occurrence wins)."""
        if values[0] in self.seen:
            return
        self.seen.add(values[0])
        rows = self.tables.get(table)
        if rows is None:
            rows = self.tables[table] = TableRows()
        rows.values.append(values)
        rows.sources.append(source)

    def add_row(self, row: Row, source: Consumed, now: float) -> None:
        self.cover(source.topic, source.partition, source.offset, source.offset, 1, now)
        self.put(row.table, row.values, source)

    def add_malformed(self, item: Malformed, now: float) -> None:
        source = item.source
        self.cover(source.topic, source.partition, source.offset, source.offset, 1, now)
        self.malformed.append(item)

    def rows(self) -> int:
        return sum(len(rows.values) for rows in self.tables.values())


def dedup_token(
    table: str, ranges: dict[tuple[str, int], tuple[int, int]], fact_ids: Iterable[str]
) -> str:
    """Insert deduplication token: the table, the offset ranges, and a digest of the exact rows,
    so the same rows retried get the same token and different rows never share one."""
    span = ",".join(f"{t}:{p}:{a}-{b}" for (t, p), (a, b) in sorted(ranges.items()))
    digest = hashlib.blake2b("\x1f".join(fact_ids).encode(), digest_size=12).hexdigest()
    return f"{table}|{span}|{digest}"
