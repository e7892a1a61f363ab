"""Operator output (pure): aligned tables, groups in words, what a failed apply left behind."""

from __future__ import annotations

from pathlib import Path

from aiokafka.errors import KafkaTimeoutError

from hookstream.cli.processors import no_pages_warning
from hookstream.ops.dlq_records import incomplete_redrive_message
from hookstream.ops.replay_plan import build_plan, incomplete_message, render_plan
from hookstream.ops.status import Status
from hookstream.ops.table import group_line, render_table


def test_tables_align_and_numbers_can_be_right_aligned() -> None:
    text = render_table([["a", 5, 12345], ["bbbb", 123, 7]], ("NAME", "N", "TOTAL"), right=(1, 2))
    assert text.splitlines() == [
        "NAME    N  TOTAL",
        "a       5  12345",
        "bbbb  123      7",
    ]


def test_the_replay_plan_is_one_aligned_table() -> None:
    plan = build_plan(
        "g", "t", {0: 8, 1: None, 2: 12345}, {0: 0, 1: 0, 2: 0}, {0: 10, 1: 5, 2: 20000},
        {0: 5, 1: 1, 2: 100}, {0: 8, 1: 4, 2: 15000},
    )  # fmt: skip
    lines = render_plan(plan).splitlines()
    assert lines[1] == "  PARTITION  CURRENT -> TARGET   STOP    END  RECORDS"
    assert lines[2] == "          0      8 -> 5             8     10        3"
    assert lines[3] == "          1      - -> 1             4      5        3"
    assert lines[4] == "          2  12345 -> 100       15000  20000    14900"
    assert len({len(line) for line in lines[1:5]}) == 1


def test_groups_in_words() -> None:
    assert group_line("g", "Empty", 0, 12, Status.OK, None) == (
        "group g: stopped (no member), lag 12, status OK"
    )
    assert group_line("g", "Stable", 1, 0, Status.OK, "the stack's sender does not answer") == (
        "group g: stopped (the stack's sender does not answer; the broker still lists 1 "
        "member(s)), caught up, status OK"
    )
    assert group_line("g", "Stable", 2, 3, Status.WARN, None) == (
        "group g: running (Stable, 2 member(s)), lag 3, status WARN"
    )


def test_a_failed_commit_says_what_moved_and_how_to_go_on() -> None:
    plan = build_plan("G", "t", {0: 9, 1: 9}, {0: 0, 1: 0}, {0: 9, 1: 9}, {0: 2, 1: 2})
    text = incomplete_message(plan, {0: 2, 1: 2}, {0: 2, 1: 9}, "the replay", KafkaTimeoutError())
    assert "the replay of group G on t is incomplete" in text
    assert "At their targets: partitions 0; not moved: partitions 1." in text
    assert "`hookstream replay --group G --finish`" in text
    assert "`hookstream replay --group G --undo`" in text
    unknown = incomplete_message(plan, {0: 2, 1: 2}, {}, "the replay", KafkaTimeoutError())
    assert "Which partitions moved is unknown" in unknown


def test_a_failed_redrive_lists_what_is_left() -> None:
    left = [f"dlq:{i}" for i in range(12)]
    text = incomplete_redrive_message(["dlq:a"], left, KafkaTimeoutError())
    assert text.startswith("redrive incomplete: 1 of 13 record(s) redriven")
    assert "dlq:9 and 2 more" in text and "run the same command again" in text
    assert "cannot be undone" in text


def test_no_pages_says_which_file_was_looked_for() -> None:
    text = no_pages_warning(None, Path("/work/x"))
    assert "HOOKSTREAM_PAGES_FILE is not set and /work/x/pages.yaml does not exist" in text
    assert "the pages file p.yaml configures no page" in no_pages_warning(Path("p.yaml"), Path())
