"""Lag snapshots as a terminal table or JSON (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson

from hookstream.ops.collect import Snapshot
from hookstream.ops.status import Status

HEADERS = ("GROUP", "TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "LAG_SECONDS")


def render_table(rows: Sequence[Sequence[str]], headers: Sequence[str] = HEADERS) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=False)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=False)).rstrip()
        for line in [headers, *rows]
    ]
    return "\n".join(lines)


def lag_rows(snapshot: Snapshot) -> list[list[str]]:
    return [
        [
            r.group,
            r.topic,
            str(r.partition),
            "-" if r.committed is None else str(r.committed),
            str(r.end),
            str(r.lag),
            f"{r.lag_seconds:.1f}",
        ]
        for r in snapshot.rows
    ]


def status_lines(snapshot: Snapshot, statuses: Mapping[str, Status]) -> list[str]:
    members = {g.group: (g.state, g.members) for g in snapshot.groups}
    lines = []
    for group in sorted({r.group for r in snapshot.rows}):
        state, count = members.get(group, ("?", 0))
        status = statuses.get(group)
        label = status.name if status is not None else "-"
        lines.append(f"group {group}: {state}, {count} member(s), status {label}")
    return lines


def as_text(snapshot: Snapshot, statuses: Mapping[str, Status]) -> str:
    if not snapshot.rows:
        return "no consumer group has committed offsets on the pipeline's topics"
    return "\n".join([render_table(lag_rows(snapshot)), "", *status_lines(snapshot, statuses)])


def as_json(snapshot: Snapshot, statuses: Mapping[str, Status]) -> bytes:
    document = {
        "at_ms": snapshot.at_ms,
        "partitions": [
            {
                "group": r.group,
                "topic": r.topic,
                "partition": r.partition,
                "committed": r.committed,
                "end": r.end,
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
    }
    return orjson.dumps(document)
