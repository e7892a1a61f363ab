"""Crash quarantine: a record that was in progress at two crashes in a row is skipped.

Per-record isolation (processors/batch.py) turns every exception into a dead letter, so what is
left to crash a worker is what no `except` sees: the process killed while it works on a record
(out of memory, a native crash, a hang ended by a liveness probe) or a bug outside the guard.
Without this, the restarted worker reads the same batch again and dies the same way, for ever.

How (cheap on the hot path: one small write before and one truncate after each batch):

- before a batch is processed, a marker names its offset spans (`begin_batch`); once processed
  (before anything is produced, so broker trouble never counts as a crash) it is cleared;
- a worker that starts and finds a batch marker had crashed on that batch: those spans become
  *suspects*, and their records are processed one at a time, each named in the marker first
  (`begin_record`);
- a worker that starts and finds a record marker had crashed on that very record, the second
  crash in a row with it in progress: the record is *quarantined*, dead-lettered as
  `quarantined` with its original instead of being processed, and the worker goes on.

The marker lives in the worker's own directory under the state dir (one per member slot, see
processors/member.py); it only has to survive the process, not the machine, so it is written
without fsync. A clean stop clears it; a crash leaves it for the next start of the same slot.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from hookstream.runtime.consumer import Consumed
from processors.batch import BatchProcessor, BatchResult
from processors.errors import Quarantined

MARKER_VERSION = 1
MAX_SUSPECTS = 64  # spans remembered at most (older ones are dropped)
Span = tuple[str, int, int, int]  # topic, partition, first offset, last offset
Offset = tuple[str, int, int]  # topic, partition, offset


class MarkerFile:
    """One small JSON file rewritten in place; empty means "nothing in progress"."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self.empty = os.fstat(self.fd).st_size == 0

    def read(self) -> dict[str, Any] | None:
        size = os.fstat(self.fd).st_size
        if not size:
            return None
        try:
            data = orjson.loads(os.pread(self.fd, size, 0))
        except orjson.JSONDecodeError:
            return None  # a write cut short by the crash itself: nothing usable
        return data if isinstance(data, dict) and data.get("v") == MARKER_VERSION else None

    def write(self, data: dict[str, Any]) -> None:
        payload = orjson.dumps({"v": MARKER_VERSION, **data})
        os.pwrite(self.fd, payload, 0)
        os.ftruncate(self.fd, len(payload))
        self.empty = False

    def clear(self) -> None:
        if not self.empty:
            os.ftruncate(self.fd, 0)
            self.empty = True

    def close(self) -> None:
        os.close(self.fd)


def spans_of(records: Sequence[Consumed]) -> list[Span]:
    spans: dict[tuple[str, int], tuple[int, int]] = {}
    for r in records:
        first, last = spans.get((r.topic, r.partition), (r.offset, r.offset))
        spans[(r.topic, r.partition)] = (min(first, r.offset), max(last, r.offset))
    return [(t, p, a, b) for (t, p), (a, b) in spans.items()]


def _spans(value: Any) -> list[Span]:
    if not isinstance(value, list):
        return []
    return [tuple(s) for s in value if _is_span(s)]


def _is_span(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 4
        and isinstance(value[0], str)
        and all(type(v) is int for v in value[1:])
    )


def _offsets(value: Any) -> set[Offset]:
    if not isinstance(value, list):
        return set()
    return {
        (o[0], o[1], o[2])
        for o in value
        if isinstance(o, list)
        and len(o) == 3
        and isinstance(o[0], str)
        and type(o[1]) is int
        and type(o[2]) is int
    }


def _within(span: Span, record: Consumed) -> bool:
    return (
        span[0] == record.topic
        and span[1] == record.partition
        and span[2] <= record.offset <= span[3]
    )


@dataclass
class CrashGuard:
    """What the previous run of this member left in progress, and the marker of this one."""

    store: MarkerFile
    suspects: list[Span] = field(default_factory=list)
    quarantined: set[Offset] = field(default_factory=set)

    @classmethod
    def resume(cls, store: MarkerFile) -> CrashGuard:
        previous = store.read() or {}
        suspects = _spans(previous.get("suspects")) + _spans(previous.get("spans"))
        quarantined = _offsets(previous.get("quarantined"))
        record = previous.get("record")
        if isinstance(record, list):
            quarantined |= _offsets([record])  # in progress at two crashes in a row
        guard = cls(store, suspects[-MAX_SUSPECTS:], quarantined)
        guard._settle()
        return guard

    @property
    def calm(self) -> bool:
        return not self.suspects and not self.quarantined

    def _carried(self) -> dict[str, Any]:
        return {
            "suspects": [list(s) for s in self.suspects],
            "quarantined": sorted(list(o) for o in self.quarantined),
        }

    def _settle(self) -> None:
        if self.calm:
            self.store.clear()
        else:
            self.store.write(self._carried())

    def begin_batch(self, records: Sequence[Consumed]) -> None:
        self.store.write({"spans": [list(s) for s in spans_of(records)], **self._carried()})

    def begin_record(self, record: Consumed) -> None:
        self.store.write(
            {"record": [record.topic, record.partition, record.offset], **self._carried()}
        )

    def is_quarantined(self, record: Consumed) -> bool:
        return (record.topic, record.partition, record.offset) in self.quarantined

    def is_suspect(self, record: Consumed) -> bool:
        return any(_within(span, record) for span in self.suspects)

    def passed(self, records: Sequence[Consumed]) -> None:
        """These records are processed (or dead-lettered): forget what they settle."""
        if self.calm:
            self.store.clear()
            return
        done = {(r.topic, r.partition, r.offset) for r in records}
        self.quarantined -= done
        newest: dict[tuple[str, int], int] = {}
        for r in records:
            newest[(r.topic, r.partition)] = max(newest.get((r.topic, r.partition), -1), r.offset)
        self.suspects = [s for s in self.suspects if newest.get((s[0], s[1]), -1) < s[3]]
        self._settle()


async def run_guarded(
    batch: BatchProcessor,
    guard: CrashGuard,
    records: Sequence[Consumed],
    load: Callable[[bytes], bytes | None],
    now_ms: int,
) -> BatchResult:
    """`batch.run(records)` under the crash guard: one marker write before and one clear after
    in the usual case; suspects one at a time, quarantined records dead-lettered unprocessed."""
    if not records:
        return BatchResult()
    if guard.calm:
        guard.begin_batch(records)
        result = await batch.run(records, load, now_ms)
        guard.passed(records)
        return result
    return await _careful(batch, guard, records, load, now_ms)


async def _careful(
    batch: BatchProcessor,
    guard: CrashGuard,
    records: Sequence[Consumed],
    load: Callable[[bytes], bytes | None],
    now_ms: int,
) -> BatchResult:
    merged = BatchResult()

    def current(key: bytes) -> bytes | None:
        stored = merged.states.get(key)
        return stored[0] if stored is not None else load(key)

    pending: list[Consumed] = []

    async def run(chunk: list[Consumed], one: bool = False) -> None:
        if not chunk:
            return
        if one:
            guard.begin_record(chunk[0])
        else:
            guard.begin_batch(chunk)
        result = await batch.run(chunk, current, now_ms)
        merged.outputs += result.outputs
        merged.states.update(result.states)

    for record in records:
        if not guard.is_quarantined(record) and not guard.is_suspect(record):
            pending.append(record)
            continue
        await run(pending)
        pending = []
        if guard.is_quarantined(record):
            error = Quarantined("in progress at two crashes of the worker in a row: skipped")
            batch.dead_letter(merged, record, error, now_ms)
        else:
            await run([record], one=True)
    await run(pending)
    guard.passed(records)
    return merged
