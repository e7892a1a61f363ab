"""The story of one message, as pure functions over the facts `sinks.trace` returns.

    steps = timeline(facts)          # ordered Step values
    print(render_timeline(facts))    # what `hookstream trace` prints

Received (ingress time), processed (kind, duplicate, rate limit, no reply),
each reply planned, each delivery outcome (attempts, Meta's error), dead letters, and the
end-to-end latency of every delivered reply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Step:
    at_ms: int
    what: str  # received | processed | planned | delivery | dead_letter
    detail: str
    ids: tuple[str, ...] = ()


def _received(row: Row) -> list[Step]:
    at, event_ms = int(row["ts_ms"]), int(row["event_time_ms"])
    test = " (Meta's Test button sample)" if row.get("test") else ""
    detail = (
        f"{row['platform']} {row['kind']} ({row['direction']}) page {row['page_id']}, "
        f"user {row['user_id']}; Meta's event time {_clock(event_ms)}{test}"
    )
    processed = f"normalized as {row['kind']} in {row['processing_ms']} ms"
    if row.get("rate_limited"):
        processed += "; rate-limited: no reply planned"
    if row.get("text_length"):
        processed += f"; text of {row['text_length']} characters"
    if row.get("attachment_types"):
        processed += "; attachments: " + ", ".join(row["attachment_types"])
    return [
        Step(at, "received", detail, (str(row["event_id"]),)),
        Step(int(row["processed_at_ms"]), "processed", processed, (str(row["event_id"]),)),
    ]


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
    order = {"received": 0, "processed": 1, "planned": 2}
    return sorted(steps, key=lambda s: (s.at_ms, order.get(s.what, 4)))


def no_reply_reasons(facts: Mapping[str, Any]) -> list[str]:
    """Why an inbound message has no planned reply, as far as the facts tell."""
    planned = {str(r["event_id"]) for r in facts.get("replies", [])}
    reasons = []
    for row in facts.get("messages", []):
        if row["direction"] != "in" or str(row["event_id"]) in planned:
            continue
        why = "rate-limited" if row.get("rate_limited") else "no rule, responder or fallback"
        reasons.append(f"{row['event_id']}: no reply planned ({why})")
    return reasons


def _clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def found(facts: Mapping[str, Any]) -> bool:
    tables = ("messages", "replies", "deliveries", "dead_letters")
    return any(facts.get(name) for name in tables)


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
        "facts": {k: facts[k] for k in ("messages", "replies", "deliveries", "dead_letters")},
        "truncated": list(facts.get("truncated", [])),
    }
