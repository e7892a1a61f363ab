"""The story of one message, as pure functions over the facts `sinks.trace` returns.

    steps = timeline(facts)          # ordered Step values
    print(render_timeline(facts))    # what `hookstream trace` prints

Received (ingress time), redelivered (each copy Meta sent again, dropped as a duplicate),
processed (kind, rate limit, why no reply), each reply planned, each delivery outcome
(attempts, Meta's error), dead letters, and the end-to-end latency of every delivered reply.
Notes below say why an inbound message got no reply, or why its planned reply was not
delivered (yet).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas.analytics import NO_REPLY_REASONS

Row = Mapping[str, Any]
TABLES = ("messages", "replies", "deliveries", "dead_letters", "duplicates")
# A fact stored before `no_reply` existed: what could have happened.
UNKNOWN_NO_REPLY = (
    "no rule, responder or fallback answered (or outside the 24-hour window, or the page is not "
    "configured)"
)


@dataclass(frozen=True)
class Step:
    at_ms: int
    what: str  # received | redelivered | processed | planned | delivery | dead_letter
    detail: str
    ids: tuple[str, ...] = ()


def no_reply_text(row: Row) -> str:
    """Why this message fact has no reply planned, in words ("" when one was planned)."""
    reason = str(row.get("no_reply") or "")
    if reason:
        return NO_REPLY_REASONS.get(reason, reason)
    return "rate-limited" if row.get("rate_limited") else ""


def _received(row: Row) -> list[Step]:
    at, event_ms = int(row["ts_ms"]), int(row["event_time_ms"])
    test = " (Meta's Test button sample)" if row.get("test") else ""
    detail = (
        f"{row['platform']} {row['kind']} ({row['direction']}) page {row['page_id']}, "
        f"user {row['user_id']}; Meta's event time {_clock(event_ms)}{test}"
    )
    if row.get("request_id"):
        detail += f"; request {row['request_id']}"
    if row.get("source_topic"):
        detail += (
            f", {row['source_topic']} partition {row['source_partition']} "
            f"offset {row['source_offset']}"
        )
    processed = f"normalized as {row['kind']} in {row['processing_ms']} ms"
    why = no_reply_text(row)
    if why:
        processed += f"; no reply: {why}"
    if row.get("text_length"):
        processed += f"; text of {row['text_length']} characters"
    if row.get("attachment_types"):
        processed += "; attachments: " + ", ".join(row["attachment_types"])
    return [
        Step(at, "received", detail, (str(row["event_id"]),)),
        Step(int(row["processed_at_ms"]), "processed", processed, (str(row["event_id"]),)),
    ]


def _redelivered(rows: Sequence[Row]) -> list[Step]:
    """One step per copy Meta sent again, numbered per event, with the time since the first."""
    steps, copies = [], dict[str, int]()
    for row in sorted(rows, key=lambda r: (int(r["ts_ms"]), str(r["fact_id"]))):
        event_id = str(row["event_id"])
        copies[event_id] = copies.get(event_id, 1) + 1
        first = int(row.get("first_received_at_ms") or 0)
        after = f", {_seconds(int(row['ts_ms']) - first)} after the first" if first else ""
        detail = (
            f"Meta sent {event_id} again (copy {copies[event_id]}{after}): dropped as a "
            f"duplicate, no second reply; request {row['request_id']}, {row['source_topic']} "
            f"partition {row['source_partition']} offset {row['source_offset']}"
        )
        steps.append(Step(int(row["ts_ms"]), "redelivered", detail, (event_id,)))
    return steps


def _seconds(ms: int) -> str:
    return f"{ms} ms" if abs(ms) < 1000 else f"{ms / 1000:.1f} s"


def _planned(row: Row) -> Step:
    rule = f" rule {row['rule_id']}" if row.get("rule_id") else ""
    detail = (
        f"reply {row['command_id']} by {row['responder']}{rule} "
        f"({row['messaging_type']}), {row['plan_ms']} ms after the webhook"
    )
    return Step(int(row["planned_at_ms"]), "planned", detail, (str(row["command_id"]),))


def _delivery(row: Row) -> Step:
    detail = f"{row['status']} after {row['attempts']} attempt(s), {row['latency_ms']} ms"
    if row.get("is_error") or row.get("error_code"):
        code = f"Meta error {row['error_code']}/{row['error_subcode']}"
        message = str(row.get("error_message") or "").removeprefix(code).lstrip(": ")
        detail += f"; {code}" + (f": {message}" if message else "")
    if row.get("message_id"):
        detail += f"; message_id {row['message_id']}"
    if row.get("has_e2e"):
        detail += f"; webhook -> delivered {row['e2e_ms']} ms"
    return Step(int(row["ts_ms"]), "delivery", detail, (str(row["command_id"]),))


def _dead_letter(row: Row) -> Step:
    detail = (
        f"dead-lettered by the {row['service']} from {row['source_topic']}: {row['reason']} "
        f"(conversation {row['conversation_id']}; `hookstream dlq show "
        f"{row['dead_letter_id']}`)"
    )
    return Step(int(row["ts_ms"]), "dead_letter", detail, (str(row["dead_letter_id"]),))


def timeline(facts: Mapping[str, Any]) -> list[Step]:
    messages: Sequence[Row] = facts.get("messages", [])
    steps: list[Step] = [step for row in messages for step in _received(row)]
    steps += [_planned(row) for row in facts.get("replies", [])]
    steps += [_delivery(row) for row in facts.get("deliveries", [])]
    steps += [_dead_letter(row) for row in facts.get("dead_letters", [])]
    steps += _redelivered(facts.get("duplicates", []))
    order = {"received": 0, "processed": 1, "planned": 2}
    return sorted(steps, key=lambda s: (s.at_ms, order.get(s.what, 4)))


def no_reply_reasons(facts: Mapping[str, Any]) -> list[str]:
    """Why an inbound message has no reply, as far as the facts tell: none planned (and why),
    a planned one not delivered (dead-lettered, held, still retried, no outcome yet), and the
    copies Meta sent again that were dropped as duplicates."""
    planned = {str(r["event_id"]) for r in facts.get("replies", [])}
    reasons = []
    for row in facts.get("messages", []):
        if row["direction"] != "in" or str(row["event_id"]) in planned:
            continue
        why = no_reply_text(row) or UNKNOWN_NO_REPLY
        reasons.append(f"{row['event_id']}: no reply planned ({why})")
    reasons += _undelivered(facts)
    reasons += _duplicates(facts)
    return reasons


def _undelivered(facts: Mapping[str, Any]) -> list[str]:
    outcomes: dict[str, list[Row]] = {}
    for row in facts.get("deliveries", []):
        outcomes.setdefault(str(row["command_id"]), []).append(row)
    notes = []
    for plan in facts.get("replies", []):
        command = str(plan["command_id"])
        rows = sorted(outcomes.get(command, []), key=lambda r: (int(r["ts_ms"]), r["attempts"]))
        statuses = {str(r["status"]) for r in rows}
        if statuses & {"delivered", "skipped_duplicate"}:
            continue
        last = rows[-1] if rows else None
        if last is None:
            why = "no delivery outcome yet (the sender has not finished it, or is behind)"
        elif last["status"] == "dead_lettered":
            why = "dead-lettered" + _error(last)
        elif last["status"] == "held":
            why = "held: its page is stopped" + _error(last)
        else:
            why = f"still being retried ({last['attempts']} failed attempt(s))" + _error(last)
        notes.append(f"{plan['event_id']}: reply {command} not delivered: {why}")
    return notes


def _error(row: Row) -> str:
    code = int(row.get("error_code") or 0)
    if not code:
        return ""
    label = f"Meta error {code}/{row.get('error_subcode') or 0}"
    message = str(row.get("error_message") or "").removeprefix(label).lstrip(": ")[:120]
    return f" ({label}" + (f": {message})" if message else ")")


def _duplicates(facts: Mapping[str, Any]) -> list[str]:
    copies: dict[str, list[int]] = {}
    for row in facts.get("duplicates", []):
        copies.setdefault(str(row["event_id"]), []).append(int(row["ts_ms"]))
    return [
        f"{event_id}: Meta sent it {len(times) + 1} times; "
        + (
            f"the later copy (at {_clock(times[0])}) was dropped as a duplicate"
            if len(times) == 1
            else f"the {len(times)} later copies (last at {_clock(max(times))}) were dropped "
            "as duplicates"
        )
        for event_id, times in sorted(copies.items())
    ]


def _clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def found(facts: Mapping[str, Any]) -> bool:
    return any(facts.get(name) for name in TABLES)


def render_timeline(facts: Mapping[str, Any]) -> str:
    steps = timeline(facts)
    start = steps[0].at_ms if steps else 0
    width = max((len(s.what) for s in steps), default=0)
    lines = [f"trace of {facts['id']}"]
    for step in steps:
        offset = f"+{step.at_ms - start} ms"
        lines.append(f"{_clock(step.at_ms)}  {offset:>11}  {step.what:<{width}}  {step.detail}")
    lines += [f"note: {reason}" for reason in no_reply_reasons(facts)]
    if facts.get("truncated"):
        lines.append("note: cut at the row limit in: " + ", ".join(facts["truncated"]))
    return "\n".join(lines)


def as_json(facts: Mapping[str, Any]) -> dict[str, Any]:
    steps: Iterable[Step] = timeline(facts)
    return {
        "id": facts["id"],
        "steps": [
            {"at_ms": s.at_ms, "what": s.what, "detail": s.detail, "ids": list(s.ids)}
            for s in steps
        ],
        "no_reply": no_reply_reasons(facts),
        "facts": {k: list(facts.get(k, [])) for k in TABLES},
        "truncated": list(facts.get("truncated", [])),
    }
