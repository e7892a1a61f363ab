"""Synthetic analytics facts for the benchmark: the mix the pipeline produces per webhook."""

from __future__ import annotations

from schemas.analytics import DeliveryResult, Fact, MessageReceived, ReplyPlanned, encode_fact

BASE_MS = 1_767_225_600_000


def fact(i: int, run: str) -> Fact:
    """Per 4 facts: 2 messages, 1 reply planned, 1 delivery result (ids unique per run)."""
    page, at = f"{1000 + i % 20}", BASE_MS + i * 10
    conversation = f"{page}:u{i % 5000}"
    kind = i % 4
    if kind < 2:
        return MessageReceived(
            f"msg:{run}-{i}",
            f"{run}-{i}",
            at - 20,
            at,
            at + 35,
            "messenger",
            page,
            conversation,
            f"u{i % 5000}",
            "in",
            "message" if i % 8 else "postback",
            text_length=i % 300,
            attachment_types=["image"] if i % 16 == 0 else [],
        )
    if kind == 2:
        return ReplyPlanned(
            f"plan:{run}-{i}",
            f"c{run}-{i}",
            f"{run}-{i}",
            page,
            conversation,
            "rules",
            "pricing",
            at + 30,
            at,
        )
    return DeliveryResult(
        f"dlv:{run}-{i}",
        f"c{run}-{i}",
        page,
        conversation,
        "delivered",
        1,
        at + 30,
        at + 180,
        150,
        event_received_at_ms=at,
        message_id=f"m{i}",
    )


def encoded_facts(n: int, run: str) -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(n):
        f = fact(i, run)
        out.append((f.conversation_id.encode(), encode_fact(f)))
    return out
