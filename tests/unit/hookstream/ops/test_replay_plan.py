"""Replay planning and the bounded-replay gate (pure)."""

from __future__ import annotations

import pytest

from hookstream.ops.errors import OpsError
from hookstream.ops.replay_plan import (
    Position,
    build_plan,
    parse_position,
    progress,
    refusal,
    render_bar,
    render_plan,
)
from hookstream.runtime.replay_bound import Decision, StopGate
from schemas.replay import decode_plan, encode_plan


def test_parse_position() -> None:
    assert parse_position("42") == Position(offset=42)
    assert parse_position("earliest") == Position(offset=0)
    assert parse_position("2026-11-23T10:00:00Z") == Position(at_ms=1_795_428_000_000)
    assert parse_position("2026-11-23T10:00:00") == Position(at_ms=1_795_428_000_000)
    assert parse_position("2026-11-23T11:00:00+01:00") == Position(at_ms=1_795_428_000_000)
    with pytest.raises(OpsError, match="neither an offset nor"):
        parse_position("yesterday")


def plan(stops: dict[int, int] | None = None):  # type: ignore[no-untyped-def]
    return build_plan(
        "g",
        "t",
        current={0: 8, 1: None},
        beginnings={0: 0, 1: 2},
        ends={0: 10, 1: 5},
        targets={0: 3, 1: 0},
        stops=stops,
    )


def test_plan_per_partition_with_clamping() -> None:
    unbounded = plan()
    p0, p1 = unbounded.partitions
    assert (p0.current, p0.target, p0.stop, p0.records) == (8, 3, 10, 7)
    assert (p1.current, p1.target, p1.stop, p1.records) == (None, 2, 5, 3)  # clamped to begin
    assert unbounded.records == 10 and not unbounded.bounded
    bounded = plan({0: 6, 1: 99})
    assert [(p.stop, p.records) for p in bounded.partitions] == [(6, 3), (5, 3)]
    assert bounded.bounded
    text = render_plan(bounded)
    assert "8 -> 3" in text and "6 record(s) to reprocess" in text and "stops at STOP" in text


def test_progress_and_bar() -> None:
    bounded = plan({0: 6, 1: 5})
    assert progress(bounded, {0: 3, 1: None}) == (0, 6)
    assert progress(bounded, {0: 5, 1: 5}) == (5, 6)
    assert progress(bounded, {0: 9, 1: 5}) == (6, 6)  # beyond the stop counts as done
    assert render_bar(3, 6, width=10) == "[#####.....] 3/6 (50%)"
    assert render_bar(0, 0, width=4) == "[####] 0/0 (100%)"


def test_refusal_says_how_to_stop() -> None:
    message = refusal("hookstream-sender", "Stable", 2)
    assert "2 live member(s)" in message and "Stop every consumer" in message


def test_plan_round_trips_through_its_record() -> None:
    bounded = plan({0: 6, 1: 5})
    assert decode_plan(encode_plan(bounded, 1)) == bounded


def test_gate_stops_at_the_bound_then_resumes_where_the_group_was() -> None:
    gate = StopGate.of(plan({0: 6, 1: 5}))
    assert gate.decide("t", 0, 5) == Decision(True)
    assert gate.decide("t", 0, 6) == Decision(False, seek_to=8)  # skip [6, 8): already done
    assert gate.decide("t", 0, 8) == Decision(True)  # past the old position: as usual
    assert gate.decide("t", 1, 5) == Decision(False, pause=True)  # a fresh partition stops
    assert gate.decide("other", 0, 100) == Decision(True)
    assert gate.finished({("t", 0): 6, ("t", 1): 5})
    assert not gate.finished({("t", 0): 5, ("t", 1): 5})


def test_an_unbounded_replay_has_no_gate() -> None:
    assert StopGate.of(plan()).bounds == {}
    assert StopGate.of(None).decide("t", 0, 10**9).process
