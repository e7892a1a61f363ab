"""Terminal tables (one renderer for every CLI table) and lag snapshots as text or JSON (pure)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import orjson

from hookstream.ops.collect import Snapshot
from hookstream.ops.lag_ends import correction_note
from hookstream.ops.status import Status

HEADERS = ("GROUP", "TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "LAG_SECONDS")


def render_table(
    rows: Sequence[Sequence[object]],
    headers: Sequence[str] = HEADERS,
    right: Collection[int] = (),
) -> str:
    """Columns as wide as their widest cell, two spaces apart; columns in `right` (indexes)
    are right-aligned (numbers)."""
    cells = [[str(c) for c in line] for line in [headers, *rows]]
    widths = [max(len(c) for c in column) for column in zip(*cells, strict=False)]
    lines = [
        "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=False))
        ).rstrip()
        for line in cells
    ]
    return "\n".join(lines)


def lag_rows(snapshot: Snapshot) -> list[list[str]]:
    corrected = {(c.topic, c.partition) for c in snapshot.corrections}
    return [
        [
            r.group,
            r.topic,
            str(r.partition),
            "-" if r.committed is None else str(r.committed),
            f"{r.end}*" if (r.topic, r.partition) in corrected else str(r.end),
            str(r.lag),
            f"{r.lag_seconds:.1f}",
        ]
        for r in snapshot.rows
    ]


EMPTY_STATES = frozenset({"Empty", "Dead", ""})


def group_line(
    group: str, state: str, members: int, lag: int, status: Status | None, stopped: str | None
) -> str:
    """One group's state in words: a group with no consumer says "stopped" (pure)."""
    label = status.name if status is not None else "-"
    behind = f"lag {lag}" if lag else "caught up"
    if members == 0 or state in EMPTY_STATES:
        return f"group {group}: stopped (no member), {behind}, status {label}"
    if stopped:
        return (
            f"group {group}: stopped ({stopped}; the broker still lists {members} member(s)), "
            f"{behind}, status {label}"
        )
    return f"group {group}: running ({state}, {members} member(s)), {behind}, status {label}"


def status_lines(
    snapshot: Snapshot,
    statuses: Mapping[str, Status],
    stopped: Mapping[str, str] | None = None,
) -> list[str]:
    """`stopped`: groups known to have no live consumer, with why (their service is down)."""
    members = {g.group: (g.state, g.members) for g in snapshot.groups}
    lags: dict[str, int] = {}
    for row in snapshot.rows:
        lags[row.group] = lags.get(row.group, 0) + row.lag
    lines = []
    for group in sorted(lags):
        state, count = members.get(group, ("?", 0))
        reason = (stopped or {}).get(group)
        lines.append(group_line(group, state, count, lags[group], statuses.get(group), reason))
    return lines


def as_text(
    snapshot: Snapshot,
    statuses: Mapping[str, Status],
    stopped: Mapping[str, str] | None = None,
) -> str:
    if not snapshot.rows:
        return "no consumer group has committed offsets on the pipeline's topics"
    table = render_table(lag_rows(snapshot), HEADERS)
    note = correction_note(snapshot.corrections)
    return "\n".join(
        [table, *([note] if note else []), "", *status_lines(snapshot, statuses, stopped)]
    )


def as_json(snapshot: Snapshot, statuses: Mapping[str, Status]) -> bytes:
    reported = {(c.topic, c.partition): c.reported for c in snapshot.corrections}
    document = {
        "at_ms": snapshot.at_ms,
        "partitions": [
            {
                "group": r.group,
                "topic": r.topic,
                "partition": r.partition,
                "committed": r.committed,
                "end": r.end,
                "reported_end": reported.get((r.topic, r.partition), r.end),
                "lag": r.lag,
                "lag_seconds": round(r.lag_seconds, 3),
            }
            for r in snapshot.rows
        ],
        "groups": [
            {
                "group": g.group,
                "state": g.state,
                "members": g.members,
                "status": statuses[g.group].name if g.group in statuses else None,
            }
            for g in snapshot.groups
        ],
        "end_corrections": [
            {"topic": c.topic, "partition": c.partition, "reported": c.reported, "end": c.end}
            for c in snapshot.corrections
        ],
    }
    return orjson.dumps(document)
