"""Which records the sink's stored check may look up in the ledger alone (sinks/writer.py,
`Fresh`): only those past their partition's end when it was assigned and past any batch whose
write failed here; a partition it was not told about is suspect throughout."""

from __future__ import annotations

from hookstream.runtime.consumer import Consumed
from sinks.batch import Batch
from sinks.writer import Fresh


def rec(partition: int, offset: int, topic: str = "t.analytics") -> Consumed:
    return Consumed(topic, partition, offset, None, None)


def test_an_unknown_partition_is_suspect_everywhere() -> None:
    fresh = Fresh()
    assert fresh.suspect(rec(0, 0))
    assert fresh.suspect(rec(0, 10**9))


def test_records_before_the_end_at_assignment_are_suspect_and_after_it_fresh() -> None:
    fresh = Fresh()
    fresh.assigned({("t.analytics", 0): 100, ("t.analytics", 1): 0})
    assert fresh.suspect(rec(0, 99))
    assert not fresh.suspect(rec(0, 100))
    assert not fresh.suspect(rec(1, 0))
    assert fresh.suspect(rec(2, 500))
    assert fresh.suspect(rec(0, 100, topic="other"))


def test_a_reassignment_never_lowers_the_fresh_offset() -> None:
    fresh = Fresh()
    fresh.assigned({("t.analytics", 0): 100})
    fresh.assigned({("t.analytics", 0): 40})  # an end offset read late or from a lagging replica
    assert fresh.suspect(rec(0, 99))


def test_a_failed_write_makes_its_records_and_those_before_suspect() -> None:
    fresh = Fresh()
    fresh.assigned({("t.analytics", 0): 10, ("t.analytics", 1): 10})
    failed = Batch()
    failed.cover("t.analytics", 0, 20, 29, 10, 0.0)
    fresh.failed(failed)
    assert fresh.suspect(rec(0, 29))
    assert fresh.suspect(rec(0, 15))
    assert not fresh.suspect(rec(0, 30))
    assert not fresh.suspect(rec(1, 15))  # another partition: untouched
