"""True ends: the embedded broker's undercounted ListOffsets answer is corrected and said so."""

from __future__ import annotations

import orjson
from aiokafka import TopicPartition

from hookstream.ops.collect import Snapshot
from hookstream.ops.lag import partition_lag
from hookstream.ops.lag_ends import EndCorrection, correction_note, true_ends
from hookstream.ops.table import as_json, as_text

A, B, C = (TopicPartition("hs.inbound", p) for p in range(3))


def test_the_highest_of_reported_fetched_and_committed_wins() -> None:
    ends, fixes = true_ends(
        {A: 301, B: 5, C: 0},
        {A: 307, B: 5},
        [{A: 300, B: 5, C: 2}, {A: 307}],
    )
    assert ends == {A: 307, B: 5, C: 2}
    assert fixes == [
        EndCorrection("hs.inbound", 0, 301, 307, "fetch"),
        EndCorrection("hs.inbound", 2, 0, 2, "commit"),
    ]


def test_nothing_to_correct_says_nothing() -> None:
    ends, fixes = true_ends({A: 6}, {A: 6}, [{A: 2}])
    assert (ends, fixes) == ({A: 6}, [])
    assert correction_note(fixes) is None


def test_a_commit_beyond_every_other_answer_is_the_end() -> None:
    ends, fixes = true_ends({A: 10}, {A: 12}, [{A: 15}])
    assert ends == {A: 15} and fixes[0].source == "commit"


def test_the_note_names_a_few_partitions_and_counts_the_rest() -> None:
    fixes = [EndCorrection("hs.inbound", p, 1, 9, "fetch") for p in range(6)]
    note = correction_note(fixes, limit=2)
    assert note is not None
    assert note.startswith("* END corrected on 6 partition(s)")
    assert "hs.inbound 0: reported 1, high watermark of a fetch 9" in note
    assert "hs.inbound 2" not in note and "; 4 more)" in note


def _snapshot() -> Snapshot:
    rows = (partition_lag("procs", "hs.inbound", 0, 307, 307, None, 5_000),)
    fix = EndCorrection("hs.inbound", 0, 301, 307, "fetch")
    return Snapshot(5_000, rows, (), (("hs.inbound", 0, 307),), (fix,))


def test_the_table_marks_a_corrected_end_and_lag_is_not_negative() -> None:
    text = as_text(_snapshot(), {})
    lines = text.splitlines()
    assert lines[1].split() == ["procs", "hs.inbound", "0", "307", "307*", "0", "0.0"]
    assert lines[2].startswith("* END corrected on 1 partition(s)")


def test_json_carries_the_reported_end_beside_the_true_one() -> None:
    document = orjson.loads(as_json(_snapshot(), {}))
    assert document["partitions"][0]["end"] == 307
    assert document["partitions"][0]["reported_end"] == 301
    assert document["end_corrections"] == [
        {"topic": "hs.inbound", "partition": 0, "reported": 301, "end": 307}
    ]
