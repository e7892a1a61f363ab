"""The shared consumer loop: its record, the admission at a replay's bound, the offset book
(property: never commits past a record not done) and the adapter over a stand-in consumer."""

from __future__ import annotations

import random
import time
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError
from aiokafka.structs import ConsumerRecord
from hypothesis import given
from hypothesis import strategies as st

from hookstream.runtime.consumer import (
    REDRIVE_HEADER,
    BoundedConsumer,
    Consumed,
    OffsetBook,
    PartitionOffsets,
    Taken,
    admit,
    consumed,
)
from hookstream.runtime.replay_bound import Bound, StopGate
from hookstream.runtime.tracing import new_trace, record_headers

TP0, TP1 = TopicPartition("t", 0), TopicPartition("t", 1)


def record(tp: TopicPartition, offset: int, key: bytes = b"k") -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(
        tp.topic, tp.partition, offset, 1_700_000_000_000, 0, key, b"v", None, 1, 1, ()
    )


class StandIn:
    """getmany hands out the given fetches in turn; commit records (or refuses, as Kafka does
    during a rebalance)."""

    def __init__(self, *fetches: dict[TopicPartition, list[ConsumerRecord[Any, Any]]]) -> None:
        self.fetches = list(fetches)
        self.commits: list[dict[TopicPartition, int]] = []
        self.refuse = False

    async def getmany(
        self, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
        return self.fetches.pop(0) if self.fetches else {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.refuse:
            raise CommitFailedError("rebalancing")
        self.commits.append(dict(offsets))


# --- the record -------------------------------------------------------------------------


def test_the_record_reads_its_trace_and_redrive_time_from_its_headers() -> None:
    ctx = new_trace()
    traced = Consumed("t", 0, 1, b"k", b"v", 5, tuple(record_headers(ctx)))
    assert traced.trace == ctx
    assert Consumed("t", 0, 1, b"k", b"v").trace is None
    redriven = Consumed("t", 0, 1, None, None, 1_700_000_000_000, ((REDRIVE_HEADER, b"x"),))
    assert redriven.redriven_at_ms == 1_700_000_000_000
    assert Consumed("t", 0, 1, None, None, 5, (("other", b"x"),)).redriven_at_ms == 0
    untimed = Consumed("t", 0, 1, None, None, -1, ((REDRIVE_HEADER, b"x"),))
    assert untimed.redriven_at_ms >= int(time.time() * 1000) - 60_000  # then: now


def test_a_client_record_becomes_one_whatever_its_headers_are() -> None:
    fields = {"topic": "t", "partition": 2, "offset": 9, "key": b"k", "value": b"v"}
    message = SimpleNamespace(**fields, headers={"traceparent": b"x"})  # faust's: a mapping
    made = consumed(message, read_at=1.5, timestamp_ms=7)
    assert made == Consumed("t", 2, 9, b"k", b"v", 7, (("traceparent", b"x"),), 1.5)
    assert consumed(SimpleNamespace(**fields, headers=None)).headers == ()
    assert consumed(SimpleNamespace(**fields, headers=[("a", b"1")])).headers == (("a", b"1"),)


# --- admission at the bound -------------------------------------------------------------


def test_admit_keeps_what_the_gate_lets_through_and_returns_the_rest() -> None:
    gate = StopGate({("t", 0): Bound(stop=2, resume=None), ("t", 1): Bound(stop=1, resume=3)})
    records = [Consumed("t", p, o, None, None) for p in (0, 1) for o in range(5)]
    kept, beyond = admit(gate, records)
    assert [(r.partition, r.offset) for r in kept] == [(0, 0), (0, 1), (1, 0), (1, 3), (1, 4)]
    assert [(r.partition, r.offset) for r in beyond] == [(0, 2), (0, 3), (0, 4), (1, 1), (1, 2)]
    assert admit(StopGate({}), records) == (records, [])


# --- the offset book (pure) -------------------------------------------------------------


@st.composite
def runs(draw: st.DrawFn) -> tuple[list[int], list[tuple[str, int]]]:
    """Offsets taken in order (with gaps, as compaction and transaction markers leave), and an
    interleaving of taking the next one and finishing any taken one."""
    gaps = draw(st.lists(st.integers(1, 3), min_size=1, max_size=30))
    offsets = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    steps: list[tuple[str, int]] = []
    taken = 0
    unfinished: list[int] = []
    while taken < len(offsets) or unfinished:
        if taken < len(offsets) and (not unfinished or draw(st.booleans())):
            unfinished.append(offsets[taken])
            steps.append(("take", offsets[taken]))
            taken += 1
        else:
            chosen = unfinished.pop(draw(st.integers(0, len(unfinished) - 1)))
            steps.append(("done", chosen))
    return offsets, steps


@given(runs())
def test_the_book_never_commits_past_an_unfinished_offset(
    run: tuple[list[int], list[tuple[str, int]]],
) -> None:
    offsets, steps = run
    partition = PartitionOffsets()
    taken: list[int] = []
    finished: set[int] = set()
    for step, offset in steps:
        if step == "take":
            partition.started(offset)
            taken.append(offset)
        else:
            partition.finished(offset)
            finished.add(offset)
        prefix = 0  # how many taken records are finished, from the first on
        while prefix < len(taken) and taken[prefix] in finished:
            prefix += 1
        unfinished = [o for o in taken if o not in finished]
        if unfinished:
            assert partition.committable is None or partition.committable <= unfinished[0]
        # ... and as far as it may go: just past the finished prefix
        assert partition.committable == (taken[prefix - 1] + 1 if prefix else None)
        assert partition.in_flight == len(taken) - prefix
    assert partition.committable == offsets[-1] + 1


@given(st.lists(st.integers(1, 4), min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_finishing_whole_runs_in_any_order_never_commits_past_an_unfinished_one(
    sizes: list[int], rng: random.Random
) -> None:
    """Runs (one poll's records of a partition) finished whole, as the sink does, in any order;
    some records of a poll past a replay's bound (done as they are taken, between the others),
    some finished ahead on their own."""
    partition, start, runs = PartitionOffsets(), 0, []
    finished: set[int] = set()
    for size in sizes:
        offsets = list(range(start, start + size))
        for offset in offsets:
            partition.started(offset)
        skipped = [o for o in offsets[1:] if rng.random() < 0.25]
        for offset in skipped:
            partition.finished(offset)
        finished.update(skipped)
        runs.append([o for o in offsets if o not in skipped])
        start += size
    for index in rng.sample(range(len(runs)), len(runs)):
        run = runs[index]
        if rng.random() < 0.3 and len(run) > 1:  # its last record ahead on its own
            partition.finished(run[-1])
            partition.finished_run(run[:-1])
        else:
            partition.finished_run(run)
        finished.update(run)
        unfinished = [o for o in range(start) if o not in finished]
        expected = unfinished[0] if unfinished else start
        assert partition.committable == (expected if expected else None)
    assert partition.committable == start and partition.in_flight == 0


def test_the_book_reports_only_what_changed_since_the_last_commit() -> None:
    book = OffsetBook()
    book.get("tp").started(0)
    assert book.to_commit() == {}
    book.get("tp").finished(0)
    assert book.to_commit() == {"tp": 1}
    book.mark_committed({"tp": 1})
    assert book.to_commit() == {}
    book.forget("tp")
    assert book.partitions == {}


# --- the adapter ------------------------------------------------------------------------


def by_partition(taken: list[Taken]) -> dict[TopicPartition, Taken]:
    return {t.tp: t for t in taken}


async def test_a_partition_commits_only_up_to_its_first_record_not_done() -> None:
    kafka = StandIn({TP0: [record(TP0, o) for o in range(3)], TP1: [record(TP1, 0)]})
    loop = BoundedConsumer(kafka)
    polled = by_partition(await loop.poll(timeout_ms=0))
    first = polled[TP0].records
    assert [r.offset for r in first] == [0, 1, 2] and loop.open == 4
    assert first[0].timestamp_ms == 1_700_000_000_000 and first[0].read_at > 0
    loop.done(polled[TP0], first[1])
    await loop.commit()
    assert kafka.commits == []  # offset 0 not done: nothing to commit yet
    loop.done(polled[TP0], first[0])
    loop.done_all(polled[TP1])
    await loop.commit()
    assert kafka.commits == [{TP0: 2, TP1: 1}] and loop.open == 1
    await loop.commit()
    assert kafka.commits == [{TP0: 2, TP1: 1}]  # nothing changed


async def test_records_past_the_bound_are_done_at_once_and_counted() -> None:
    counted: list[int] = []
    gate = StopGate({("t", 0): Bound(stop=2, resume=None)})
    kafka = StandIn({TP0: [record(TP0, o) for o in range(5)]})
    loop = BoundedConsumer(kafka, gate, on_beyond=counted.append)
    [taken] = await loop.poll(timeout_ms=0)
    assert [r.offset for r in taken.records] == [0, 1] and counted == [3]
    await loop.commit()
    assert kafka.commits == []  # 0 and 1 still in flight: the skipped ones wait behind them
    loop.done_all(taken)
    await loop.commit()
    assert kafka.commits == [{TP0: 5}]


async def test_a_live_group_skipping_its_replayed_range_commits_in_offset_order() -> None:
    gate = StopGate({("t", 0): Bound(stop=1, resume=3)})  # replayed [0, 1); was at 3
    kafka = StandIn({TP0: [record(TP0, o) for o in range(5)]})
    loop = BoundedConsumer(kafka, gate)
    [taken] = await loop.poll(timeout_ms=0)
    assert [r.offset for r in taken.records] == [0, 3, 4]
    commits: list[int] = []
    for processed in reversed(taken.records):  # finishing out of order
        loop.done(taken, processed)
        await loop.commit()
        commits += [c[TP0] for c in kafka.commits[len(commits) :]]
    assert commits == [5]  # never 2 or 4 first, and never backwards


async def test_a_fetch_only_past_the_bound_hands_out_nothing_and_commits_past_it() -> None:
    counted: list[int] = []
    gate = StopGate({("t", 0): Bound(stop=0, resume=None)})
    kafka = StandIn({TP0: [record(TP0, 0), record(TP0, 1)]})
    loop = BoundedConsumer(kafka, gate, on_beyond=counted.append)
    assert await loop.poll(timeout_ms=0) == [] and counted == [2]
    await loop.commit()
    assert kafka.commits == [{TP0: 2}]


async def test_a_revoked_partition_forgets_its_records_and_ignores_their_late_done() -> None:
    kafka = StandIn({TP0: [record(TP0, 0), record(TP0, 1)]}, {TP0: [record(TP0, 0)]})
    loop = BoundedConsumer(kafka)
    [first] = await loop.poll(timeout_ms=0)
    loop.done(first, first.records[0])
    await loop.listener().on_partitions_revoked({TP0})
    assert kafka.commits == [{TP0: 1}]  # what was done is committed before the partition goes
    assert not loop.current(first) and loop.open == 0
    [again] = await loop.poll(timeout_ms=0)  # assigned back: offset 0 read again
    loop.done(first, first.records[1])  # the earlier reading finishes late: ignored
    loop.done_all(first)
    assert loop.current(again)
    await loop.commit()
    assert kafka.commits == [{TP0: 1}]  # nothing new: offset 0's new reading is not done
    loop.done_all(again)
    await loop.commit()
    assert kafka.commits == [{TP0: 1}, {TP0: 1}]


async def test_a_refused_commit_commits_nothing_and_is_retried_later() -> None:
    assigned: list[bool] = []

    async def on_assigned() -> None:
        assigned.append(True)

    kafka = StandIn({TP0: [record(TP0, 0)]})
    loop = BoundedConsumer(kafka, on_assigned=on_assigned)
    [taken] = await loop.poll(timeout_ms=0)
    loop.done_all(taken)
    kafka.refuse = True
    await loop.commit()
    assert kafka.commits == []
    kafka.refuse = False
    await loop.commit()
    assert kafka.commits == [{TP0: 1}]
    await loop.listener().on_partitions_assigned({TP0})
    assert assigned == [True]
