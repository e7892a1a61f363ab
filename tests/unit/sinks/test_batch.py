from __future__ import annotations

from hookstream.runtime.consumer import Consumed
from sinks.batch import Batch, BatchPolicy, Malformed, dedup_token
from sinks.rows import Row


def row(fact_id: str, table: str = "messages") -> Row:
    return Row(table, (fact_id, 1000))


def src(offset: int, partition: int = 0) -> Consumed:
    return Consumed("t.analytics", partition, offset, b"k", b"v")


def test_flush_on_size_or_age_whichever_first() -> None:
    policy = BatchPolicy(max_rows=3, max_age_s=1.0)
    assert not policy.due(0, 5.0)  # empty batches never flush
    assert not policy.due(2, 0.5)
    assert policy.due(3, 0.0)
    assert policy.due(1, 1.0)
    assert policy.wait_s(0, 0.0) == 1.0 and policy.wait_s(2, 0.25) == 0.75
    assert policy.wait_s(2, 3.0) == 0.0


def test_defaults_are_ten_thousand_rows_or_one_second() -> None:
    assert BatchPolicy() == BatchPolicy(10_000, 1.0)


def test_batch_tracks_offset_ranges_rows_and_age() -> None:
    batch = Batch()
    batch.add_row(row("a"), src(5), now=10.0)
    batch.add_row(row("b"), src(7), now=10.5)
    batch.add_malformed(Malformed(src(9), "invalid", "boom"), now=10.6)
    batch.add_row(row("c"), src(3, partition=1), now=10.7)
    assert len(batch) == 4 and batch.age_s(11.0) == 1.0 and batch.rows() == 3
    assert batch.ranges == {("t.analytics", 0): (5, 9), ("t.analytics", 1): (3, 3)}


def test_a_partition_chunk_is_covered_at_once() -> None:
    batch = Batch()
    batch.cover("t.analytics", 0, 10, 19, count=10, now=1.0)
    batch.cover("t.analytics", 0, 4, 8, count=5, now=2.0)
    assert len(batch) == 15 and batch.age_s(3.0) == 2.0
    assert batch.ranges == {("t.analytics", 0): (4, 19)}


def test_rows_grouped_per_table_each_fact_once() -> None:
    batch = Batch()
    for i, (fid, table) in enumerate([("a", "messages"), ("r", "replies"), ("a", "messages")]):
        batch.add_row(row(fid, table), src(i), now=0.0)
    messages, replies = batch.tables["messages"], batch.tables["replies"]
    assert [v[0] for v in messages.values] == ["a"] and [s.offset for s in messages.sources] == [0]
    assert [v[0] for v in replies.values] == ["r"]
    assert batch.seen == {"a", "r"} and len(batch) == 3


def test_token_is_stable_for_the_same_rows_and_differs_otherwise() -> None:
    ranges = {("t", 0): (0, 9)}
    token = dedup_token("messages", ranges, ["a", "b"])
    assert token == dedup_token("messages", ranges, ["a", "b"])
    assert token.startswith("messages|t:0:0-9|")
    assert token != dedup_token("replies", ranges, ["a", "b"])
    assert token != dedup_token("messages", ranges, ["a"])
    assert token != dedup_token("messages", {("t", 0): (0, 8)}, ["a", "b"])
