"""The consumer loop the services share: one consumed-record type, one admission at the replay
bound, one commit position that never passes a record whose effects are not durable yet.

    loop = BoundedConsumer(consumer, gate, on_beyond=metric.inc, log=log)
    consumer.subscribe([topic], listener=loop.listener())
    for taken in await loop.poll(timeout_ms=100, max_records=1000):  # one per partition
        for record in taken.records:
            ...                  # its effects (in any order across records)
            loop.done(taken, record)  # once they are durable (or loop.done_all(taken))
    await loop.commit()          # each partition up to its first record not done

Pure core: `Consumed` (the record as a service sees it; its trace context and redrive time are
read from its headers), `admit` (the gate's verdict on a run of records) and `OffsetBook` (the
commit position per partition). `BoundedConsumer` is the thin adapter that awaits aiokafka.

Past a replay's bound (`StopGate`) a record is acknowledged unprocessed: marked done at once
(committable like a processed one, never before the records ahead of it) and counted through
`on_beyond`, so each service keeps its `beyond_replay_bound` metric. The sender and the sink run
on `BoundedConsumer`. The processors run on faust, which owns its consumer: each event becomes a
`Consumed` (`consumed`) and goes through the same `admit`; faust's manual ack (`stream.noack()`,
acked once the batch's outputs are acknowledged by the broker) is their commit after effects.

A rebalance commits what is done, then forgets the revoked partitions: what was taken from them
before is no longer `current` and its late `done` is ignored (the next owner re-reads it).
Bookkeeping is per partition and poll (`Taken`), not per record: the sink takes 100,000s a second.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from hookstream.runtime.logging import event
from hookstream.runtime.replay_bound import StopGate
from hookstream.runtime.tracing import TraceContext, context_of

REDRIVE_HEADER = "hookstream-redrive"  # set by `hookstream dlq redrive` (hookstream.ops)
Headers = tuple[tuple[str, bytes | None], ...]


class Consumed(NamedTuple):
    """One record as a consumer read it: immutable, no instance dict (a tuple: constructing one
    costs a fifth of a frozen dataclass, which counts at the sink's rates)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int = -1  # the record's Kafka timestamp; -1: unknown
    headers: Headers = ()
    read_at: float = 0.0  # monotonic time it was read (how long it waited since)

    @property
    def trace(self) -> TraceContext | None:
        """The trace context of its `traceparent` header, if any."""
        return context_of(self.headers)

    @property
    def redriven_at_ms(self) -> int:
        """Its timestamp (ms) when it was redriven from the dead letters, else 0: an operator
        asked for it to be handled now, so its age counts from there."""
        if not any(name == REDRIVE_HEADER for name, _ in self.headers):
            return 0
        return self.timestamp_ms if self.timestamp_ms > 0 else int(time.time() * 1000)


def consumed(record: Any, read_at: float = 0.0, timestamp_ms: int | None = None) -> Consumed:
    """A Kafka client's record (aiokafka's ConsumerRecord, faust's Message: headers a sequence
    of pairs or a mapping) as a `Consumed`; `timestamp_ms` None: the record's own (in ms)."""
    headers = getattr(record, "headers", None)
    if headers and type(headers) is not tuple:
        headers = tuple(headers.items() if isinstance(headers, Mapping) else headers)
    if timestamp_ms is None:
        stamp = getattr(record, "timestamp", None)
        timestamp_ms = stamp if type(stamp) is int else -1
    # built as the tuple it is: the sink converts every record it reads
    return _tuple_new(
        Consumed,
        (
            record.topic,
            record.partition,
            record.offset,
            record.key,
            record.value,
            timestamp_ms,
            headers or (),
            read_at,
        ),
    )


_tuple_new = tuple.__new__


def admit(gate: StopGate, records: Iterable[Consumed]) -> tuple[list[Consumed], list[Consumed]]:
    """The records to process, and those past a replay's bound (to acknowledge unprocessed)."""
    kept: list[Consumed] = []
    if not gate.bounds:
        kept.extend(records)
        return kept, []
    beyond: list[Consumed] = []
    for record in records:
        process = gate.decide(record.topic, record.partition, record.offset).process
        (kept if process else beyond).append(record)
    return kept, beyond


@dataclass
class PartitionOffsets:
    """One partition's records in flight; `committable` only moves past a record once it and
    every record taken before it are done (records finish out of order)."""

    pending: deque[int] = field(default_factory=deque)  # taken, in offset order
    done: set[int] = field(default_factory=set)
    committable: int | None = None  # next offset to commit (Kafka's "position" semantics)

    def started(self, offset: int) -> None:
        self.pending.append(offset)

    def finished(self, offset: int) -> None:
        pending = self.pending
        if not pending or pending[0] != offset:  # finished ahead of an earlier record
            self.done.add(offset)
            return
        pending.popleft()
        self.committable = offset + 1
        self._past_finished_head()

    def finished_run(self, offsets: list[int]) -> None:
        """Each of `offsets` (taken in this order) finished; at once when they are the oldest
        records in flight (a batch written in order)."""
        pending, count = self.pending, len(offsets)
        at_head = count and len(pending) >= count and pending[0] == offsets[0]
        if at_head and pending[count - 1] == offsets[-1]:  # exactly the head: offsets increase
            self.pending = deque(islice(pending, count, None))
            self.committable = offsets[-1] + 1
            if self.done:  # some of them finished on their own before
                self.done.difference_update(offsets)
            self._past_finished_head()
            return
        for offset in offsets:
            self.finished(offset)

    def _past_finished_head(self) -> None:
        """Move the commit position past the records at the head that finished earlier."""
        pending, done = self.pending, self.done
        while done and pending and pending[0] in done:
            head = pending.popleft()
            done.discard(head)
            self.committable = head + 1

    @property
    def in_flight(self) -> int:
        return len(self.pending)


@dataclass
class OffsetBook:
    """PartitionOffsets per partition key, and what changed since the last commit."""

    partitions: dict[Hashable, PartitionOffsets] = field(default_factory=dict)
    committed: dict[Hashable, int] = field(default_factory=dict)

    def get(self, tp: Hashable) -> PartitionOffsets:
        offsets = self.partitions.get(tp)
        if offsets is None:
            offsets = self.partitions[tp] = PartitionOffsets()
        return offsets

    def to_commit(self) -> dict[Hashable, int]:
        ready = {}
        for tp, offsets in self.partitions.items():
            if offsets.committable is not None and offsets.committable != self.committed.get(tp):
                ready[tp] = offsets.committable
        return ready

    def mark_committed(self, offsets: Mapping[Hashable, int]) -> None:
        self.committed.update(offsets)

    def forget(self, tp: Hashable) -> None:
        self.partitions.pop(tp, None)
        self.committed.pop(tp, None)


@dataclass(frozen=True, slots=True, eq=False)
class Taken:
    """The admitted records of one partition from one poll, in offset order, and the book of
    its partition they were taken into (a revoked partition's book is forgotten)."""

    tp: TopicPartition
    records: list[Consumed]
    offsets: PartitionOffsets = field(repr=False)


class BoundedConsumer:
    """An AIOKafkaConsumer behind the replay bound and the offset book (see the module)."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        gate: StopGate | None = None,
        on_beyond: Callable[[int], object] = lambda _count: None,
        on_assigned: Callable[[], Awaitable[object]] | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.consumer = consumer
        self.gate = gate or StopGate({})
        self.book = OffsetBook()
        self._on_beyond = on_beyond
        self._on_assigned = on_assigned
        self._log = log or logging.getLogger("hookstream.consumer")

    def listener(self) -> ConsumerRebalanceListener:
        return _Rebalance(self)

    @property
    def open(self) -> int:
        """Records taken and not done yet, of the partitions still assigned."""
        return sum(offsets.in_flight for offsets in self.book.partitions.values())

    async def poll(self, timeout_ms: int, max_records: int | None = None) -> list[Taken]:
        """The admitted records of one fetch, per partition; each holds its partition's commit
        position back until `done`. Records past the bound are done at once and counted."""
        fetched = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        now, taken, beyond = time.monotonic(), [], 0
        for tp, records in fetched.items():
            offsets = self.book.get(tp)
            kept, past = admit(self.gate, _converted(records, now))
            if not past:
                offsets.pending.extend([record.offset for record in kept])
            else:  # in offset order: a skipped record waits behind the ones before it
                for record in sorted(kept + past, key=_offset):
                    offsets.started(record.offset)
                for record in past:
                    offsets.finished(record.offset)
                beyond += len(past)
            if kept:
                taken.append(Taken(tp, kept, offsets))
        if beyond:
            self._on_beyond(beyond)
        return taken

    def current(self, taken: Taken) -> bool:
        """False once its partition was revoked (its effects may be skipped: the next owner
        re-reads it)."""
        return self.book.partitions.get(taken.tp) is taken.offsets

    def done(self, taken: Taken, record: Consumed) -> None:
        """`record` (one of `taken`, once) is durable: it no longer holds its partition's commit
        position back. Ignored once the partition was revoked."""
        if self.current(taken):
            taken.offsets.finished(record.offset)

    def done_all(self, taken: Taken) -> None:
        """Every record of `taken` is durable."""
        if self.current(taken):
            taken.offsets.finished_run([record.offset for record in taken.records])

    async def commit(self) -> None:
        """Commit every partition up to its first record not done; a failure (a rebalance in
        progress) commits nothing: the next owner starts earlier and re-reads."""
        offsets = self.book.to_commit()
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except KafkaError as exc:
            event(self._log, "commit_skipped", logging.WARNING, error=type(exc).__name__)
            return
        self.book.mark_committed(offsets)

    def revoke(self, tps: Iterable[TopicPartition]) -> None:
        for tp in tps:
            self.book.forget(tp)


def _offset(record: Consumed) -> int:
    return record.offset


def _converted(records: list[Any], read_at: float) -> list[Consumed]:
    """aiokafka's records (an int timestamp, a tuple of headers) as `Consumed`, inline: the
    sink converts every record it reads; other record types through `consumed`."""
    try:
        return [
            _tuple_new(
                Consumed,
                (r.topic, r.partition, r.offset, r.key, r.value, r.timestamp, r.headers, read_at),
            )
            for r in records
        ]
    except AttributeError:
        return [consumed(r, read_at) for r in records]


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, loop: BoundedConsumer) -> None:
        self.loop = loop

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.loop.commit()
        self.loop.revoke(revoked)
        partitions = sorted(tp.partition for tp in revoked)
        event(self.loop._log, "partitions_revoked", partitions=partitions)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if self.loop._on_assigned is not None:
            await self.loop._on_assigned()
        partitions = sorted(tp.partition for tp in assigned)
        event(self.loop._log, "partitions_assigned", partitions=partitions)
