"""Replay planning, as pure functions: where a group is, where it goes, what it reprocesses.

    plan = build_plan("G", "hookstream.inbound", current, beginnings, ends, targets, stops)
    print(render_plan(plan))

A position is an offset (the same for every selected partition) or a time (ISO 8601; the first
record at or after it, per partition). Offsets are clamped into what the partition holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from hookstream.ops.errors import OpsError
from hookstream.ops.table import render_table
from schemas.replay import PartitionPlan, ReplayPlan


@dataclass(frozen=True)
class Position:
    offset: int | None = None
    at_ms: int | None = None

    def describe(self) -> str:
        if self.offset is not None:
            return f"offset {self.offset}"
        stamp = datetime.fromtimestamp((self.at_ms or 0) / 1000, UTC)
        return stamp.isoformat(timespec="milliseconds")


def parse_position(text: str) -> Position:
    """`123` (an offset), `earliest`, or an ISO 8601 time (without a zone: UTC)."""
    value = text.strip()
    if value == "earliest":
        return Position(offset=0)
    if value.isdigit():
        return Position(offset=int(value))
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise OpsError(f"{text!r} is neither an offset nor an ISO 8601 time") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return Position(at_ms=int(stamp.timestamp() * 1000))


def clamp(offset: int, beginning: int, end: int) -> int:
    return min(max(offset, beginning), end)


def build_plan(
    group: str,
    topic: str,
    current: Mapping[int, int | None],
    beginnings: Mapping[int, int],
    ends: Mapping[int, int],
    targets: Mapping[int, int],
    stops: Mapping[int, int] | None = None,
) -> ReplayPlan:
    parts = []
    for partition in sorted(targets):
        low, high = beginnings[partition], ends[partition]
        target = clamp(targets[partition], low, high)
        stop = high if stops is None else clamp(stops[partition], target, high)
        parts.append(PartitionPlan(partition, current.get(partition), target, stop, high))
    return ReplayPlan(group, topic, tuple(parts), bounded=stops is not None)


PLAN_HEADERS = ("PARTITION", "CURRENT -> TARGET", "STOP", "END", "RECORDS")


def render_plan(plan: ReplayPlan) -> str:
    currents = ["-" if p.current is None else str(p.current) for p in plan.partitions]
    width = max((len(c) for c in currents), default=1)
    rows = [
        [str(p.partition), f"{c.rjust(width)} -> {p.target}", p.stop, p.end, p.records]
        for p, c in zip(plan.partitions, currents, strict=True)
    ]
    table = render_table(rows, PLAN_HEADERS, right=(0, 2, 3, 4))
    bound = (
        "the group stops at STOP (consumers honoring replay bounds)"
        if plan.bounded
        else "the group then continues with new records"
    )
    return "\n".join(
        [
            f"replay plan for group {plan.group} on {plan.topic}:",
            *("  " + line for line in table.splitlines()),
            f"  {plan.records} record(s) to reprocess; {bound}",
        ]
    )


def _partitions(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in sorted(numbers)) or "none"


def incomplete_message(
    plan: ReplayPlan,
    targets: Mapping[int, int],
    now: Mapping[int, int | None],
    what: str,
    exc: BaseException,
) -> str:
    """What a failed commit left behind, and the two ways on: finish or undo."""
    head = (
        f"{what} of group {plan.group} on {plan.topic} is incomplete: committing the offsets "
        f"failed ({type(exc).__name__}: {exc or 'no detail'}). The plan is recorded (replay-bounds"
        f" and the state dir). "
    )
    if now:
        moved = [p for p, offset in targets.items() if now.get(p) == offset]
        left = [p for p in targets if p not in moved]
        state = (
            f"At their targets: partitions {_partitions(moved)}; "
            f"not moved: partitions {_partitions(left)}. "
        )
    else:
        state = "Which partitions moved is unknown (the broker did not answer). "
    how = (
        f"Finish: `hookstream replay --group {plan.group} --finish`; undo: "
        f"`hookstream replay --group {plan.group} --undo` (the group stays stopped until then)."
    )
    return head + state + how


def refusal(group: str, state: str, members: int) -> str:
    return (
        f"group {group} has {members} live member(s) (state {state}); refusing to move its "
        "offsets. Stop every consumer of the group first (the service: processors, sender or "
        "sink; `hookstream up` runs them all) and retry once `hookstream lag` shows it stopped. "
        "Or reprocess into a new group without touching this one: "
        "`hookstream reprocess --as <new-group> --from ...`."
    )


def progress(plan: ReplayPlan, committed: Mapping[int, int | None]) -> tuple[int, int]:
    """(records of the range consumed so far, records in the range)."""
    done = 0
    for p in plan.partitions:
        at = committed.get(p.partition)
        done += 0 if at is None else clamp(at, p.target, p.stop) - p.target
    return done, plan.records


def render_bar(done: int, total: int, width: int = 30) -> str:
    share = 1.0 if total == 0 else min(1.0, done / total)
    filled = int(share * width)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} ({share:.0%})"
